package tray

import "context"

// hostAvailable: every Windows desktop has the taskbar's notification
// area. (Where Explorer does not run, fyne.io/systray logs its failure and
// the helper goes on without an icon.)
func hostAvailable(context.Context) error { return nil }

// iconData is the icon as the Windows tray takes it (ICO).
func iconData(i Icon) []byte { return iconICO(i) }
