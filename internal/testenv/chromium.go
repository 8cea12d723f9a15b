package testenv

import "github.com/chromedp/chromedp"

// ChromiumPath is where the tests expect Chromium (scripts/deps.sh installs
// it there).
const ChromiumPath = "/usr/bin/chromium"

// ChromiumAllocatorOptions is how the tests run Chromium: headless, with a
// w x h window and the profile in userDataDir.
func ChromiumAllocatorOptions(userDataDir string, w, h int) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(ChromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		// Host candidates as addresses rather than mDNS names: the agent
		// needs no multicast, which containers often lack.
		chromedp.Flag("disable-features", "WebRtcHideLocalIpsWithMdns"),
		// Background tabs keep full-speed timers and animation frames: two
		// viewers run side by side in one test.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(w, h),
	}
}

// SignIn signs in through the console's page at base, as a technician does,
// and waits for the endpoint list.
func SignIn(base, name, password string) []chromedp.Action[chromedp.Void] {
	return []chromedp.Action[chromedp.Void]{
		chromedp.Navigate(base + "/"),
		chromedp.WaitVisible(chromedp.ID("name")),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`#signin-form button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("endpoints")),
	}
}
