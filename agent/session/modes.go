package session

import (
	"errors"
	"fmt"
	"slices"

	"github.com/tetherdesk/tether/shared/policy"
	"github.com/tetherdesk/tether/shared/protocol"
)

// modePlan is how a session's mode is chosen when it starts: Mode unless
// the user picks one of Alternatives on the prompt.
type modePlan struct {
	Mode         protocol.Mode
	Alternatives []protocol.Mode
	// Enabled is every mode the session may use, in order of precedence:
	// the endpoint's policy, narrowed to the modes the server allowed.
	Enabled []protocol.Mode
}

// planModes applies the mode rules (design.md, "Modes") on the endpoint:
// the enabled modes are those of the endpoint's own policy that the server
// also allowed (it sends its policy's, which may be older or newer); the
// session starts in the mode the technician asked for when it is enabled,
// otherwise in the first enabled mode in the order Active, Guidance,
// Monitor, Chat, File transfer; the alternatives are the other enabled
// modes in that order.
func planModes(start protocol.ScreenShareStart, pol policy.ScreenShare) (modePlan, error) {
	var p modePlan
	for _, m := range pol.Enabled() {
		if len(start.AllowedModes) == 0 || slices.Contains(start.AllowedModes, m) {
			p.Enabled = append(p.Enabled, m)
		}
	}
	if len(p.Enabled) == 0 {
		return modePlan{}, errors.New("no mode is enabled by both the endpoint's policy and the server")
	}
	p.Mode = p.Enabled[0]
	if slices.Contains(p.Enabled, start.Mode) {
		p.Mode = start.Mode
	}
	for _, m := range p.Enabled {
		if m != p.Mode {
			p.Alternatives = append(p.Alternatives, m)
		}
	}
	return p, nil
}

// chosen is the mode the session starts in after the user answered the
// prompt with mode: the plan's own mode unless the answer names one of the
// alternatives (anything else keeps the plan's mode).
func (p modePlan) chosen(answer protocol.Mode) protocol.Mode {
	if slices.Contains(p.Alternatives, answer) {
		return answer
	}
	return p.Mode
}

// checkModeChange decides on a technician's request to switch from
// current to requested during the session: an error says why not; ask
// reports whether the end user must accept it first (attended sessions on
// an endpoint whose policy asks for acceptance).
func checkModeChange(p modePlan, pol policy.ScreenShare, attended bool, current, requested protocol.Mode) (ask bool, err error) {
	switch {
	case !slices.Contains(protocol.Modes, requested):
		return false, fmt.Errorf("unknown mode %q", requested)
	case requested == current:
		return false, fmt.Errorf("the session is already in %s mode", requested)
	case !slices.Contains(p.Enabled, requested):
		return false, fmt.Errorf("%s mode is not enabled by this endpoint's policy", requested)
	}
	return attended && pol.AcceptanceRequired, nil
}

// hasScreen reports whether a mode shows the screen. Chat and File
// transfer never capture or send a frame.
func hasScreen(mode protocol.Mode) bool {
	return mode == protocol.ModeActive || mode == protocol.ModeGuidance || mode == protocol.ModeMonitor
}

// features lists what a mode offers, given the policy. Chat goes with
// every mode; files with Active and File transfer when the policy allows
// them; the clipboard with Active only (it is part of controlling the
// computer); guidance marks with Guidance.
func features(mode protocol.Mode, pol policy.ScreenShare) []string {
	f := []string{protocol.FeatureChat}
	if pol.FileTransfer && (mode == protocol.ModeActive || mode == protocol.ModeFile) {
		f = append(f, protocol.FeatureFile)
	}
	if pol.ClipboardSync && mode == protocol.ModeActive {
		f = append(f, protocol.FeatureClipboard)
	}
	if mode == protocol.ModeGuidance {
		f = append(f, protocol.FeatureGuidance)
	}
	return f
}

// fileMax is the largest file the policy lets through; 0 in the policy
// means no limit of its own (the wire's applies).
func fileMax(pol policy.ScreenShare) int64 {
	if pol.FileMaxBytes <= 0 || pol.FileMaxBytes > protocol.MaxFileSize {
		return protocol.MaxFileSize
	}
	return pol.FileMaxBytes
}

var modeNames = map[protocol.Mode]string{
	"active":   "view and control your screen",
	"guidance": "view your screen and point at things",
	"monitor":  "view your screen (no control)",
	"chat":     "chat with you",
	"file":     "transfer files",
}

// ModeText says what a mode lets the technician do, as the end user
// reads it in a prompt or notice ("view and control your screen").
func ModeText(m protocol.Mode) string {
	if s, ok := modeNames[m]; ok {
		return s
	}
	return string(m)
}
