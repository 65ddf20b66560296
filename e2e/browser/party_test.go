//go:build unix

package browser

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestPartyDemoInBrowser drives the poll and chat demo pages (web/demo,
// on the built-in parties) in headless Chromium: a presenter and two
// voters, one phone-sized, then a chat of two. COLLABD_SCREENSHOTS=DIR
// keeps the screenshots.
func TestPartyDemoInBrowser(t *testing.T) {
	chromium := requireBrowser(t)
	addr := startCollabd(t)
	out := t.TempDir()
	if dir := os.Getenv("COLLABD_SCREENSHOTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		out, _ = filepath.Abs(dir)
	}
	params, _ := json.Marshal(map[string]any{"base": "http://" + addr, "room": "allhands", "outDir": out, "chromium": chromium, "waitMs": 10000})
	var r struct {
		Errors, Screenshots                 []string
		VoteLink, VoterQuestion, PhoneNote  string
		QR                                  int
		AfterTwo, AfterChange               []int
		PhoneChosen, PhoneChosenAfterReload []bool
		PhoneOverflow                       int
		BarWidths                           []string
		ClosedNote                          string
		ClosedDisabled                      bool
		Results                             struct {
			Poll struct {
				Closed   bool
				Tallies  []int
				Question string
			}
		}
		BobSees, AdaNotices []string
	}
	runNode(t, 90*time.Second, &r, "party.mjs", string(params))
	if len(r.Errors) > 0 {
		t.Errorf("the pages logged errors:\n  %s", strings.Join(r.Errors, "\n  "))
	}
	if !strings.Contains(r.VoteLink, "/poll/vote?room=allhands") || r.QR == 0 {
		t.Errorf("vote link %q, QR code of %d elements", r.VoteLink, r.QR)
	}
	if r.VoterQuestion != "Where do we go for lunch?" {
		t.Errorf("the voter's page shows %q", r.VoterQuestion)
	}
	if fmt.Sprint(r.AfterTwo) != "[1 1 0]" || fmt.Sprint(r.AfterChange) != "[1 0 1]" {
		t.Errorf("presenter's bars: %v then %v; want [1 1 0] then [1 0 1]", r.AfterTwo, r.AfterChange)
	}
	if fmt.Sprint(r.BarWidths) != "[50% 0% 50%]" {
		t.Errorf("bar widths %v", r.BarWidths)
	}
	want := []bool{false, false, true}
	if !slices.Equal(r.PhoneChosen, want) || !slices.Equal(r.PhoneChosenAfterReload, want) || !strings.Contains(r.PhoneNote, "counted") {
		t.Errorf("phone: chosen %v, after a reload %v, note %q", r.PhoneChosen, r.PhoneChosenAfterReload, r.PhoneNote)
	}
	if r.PhoneOverflow > 0 {
		t.Errorf("the phone page is %d px wider than the screen", r.PhoneOverflow)
	}
	if !strings.Contains(r.ClosedNote, "closed") || !r.ClosedDisabled || !r.Results.Poll.Closed || fmt.Sprint(r.Results.Poll.Tallies) != "[1 0 1]" {
		t.Errorf("after the close: note %q, disabled %v, GET %+v", r.ClosedNote, r.ClosedDisabled, r.Results)
	}
	if !slices.ContainsFunc(r.BobSees, func(s string) bool { return strings.Contains(s, "Ada") && strings.Contains(s, "Hello from Ada") }) {
		t.Errorf("Bob's chat: %q", r.BobSees)
	}
	if !slices.ContainsFunc(r.AdaNotices, func(s string) bool { return strings.Contains(s, "joined") }) {
		t.Errorf("Ada's notices: %q, want Bob's join", r.AdaNotices)
	}
	if len(r.Screenshots) != 5 {
		t.Errorf("screenshots: %q", r.Screenshots)
	}
}
