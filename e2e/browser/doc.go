// Package browser tests the demo note editor (web/demo) in a real browser:
// headless Chromium (Debian's chromium package) driven by playwright-core
// from demo.mjs, against a real collabd process built from ./cmd/collabd
// and started on a free port with a temporary data directory.
//
// Two people edit one note in separate browser contexts: typing shows up on
// the other page with the typist's named caret, edits made offline merge on
// reconnect, a saved version is previewed read-only and restored on both
// pages, the download links answer 200 with the right content types, the
// page logs no console errors, and screenshots are taken at laptop and
// phone size.
//
//	go test -count=1 ./e2e/browser
//	COLLABD_SCREENSHOTS=/some/dir go test -count=1 ./e2e/browser  # keep the screenshots
//	COLLABD_CHROMIUM=/path/to/chromium go test ./e2e/browser      # another Chromium
//	COLLABD_E2E_BINARY=/path/to/collabd go test ./e2e/browser     # a given build
//
// The test needs node, the pinned npm packages (npm ci in the module root)
// and Chromium (apt-get install -y chromium). Without them it skips, except
// under CI=true where that is a failure; under -short it skips. The package
// has no non-test code.
package browser
