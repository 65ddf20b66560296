// Package parties registers collabd's built-in parties, which a front-end
// developer uses with partysocket and no Go: chat (parties/chat), poll
// (parties/poll) and cursors (parties/cursors). Each package documents its
// JSON messages.
package parties

import (
	"github.com/collabd/collabd/parties/chat"
	"github.com/collabd/collabd/parties/cursors"
	"github.com/collabd/collabd/parties/poll"
	"github.com/collabd/collabd/party"
)

// Register registers chat, poll and cursors under those names, with their
// default options.
func Register(reg *party.Registry) error {
	for name, f := range map[string]party.Factory{
		"chat":    chat.New(chat.Options{}),
		"poll":    poll.New(poll.Options{}),
		"cursors": cursors.New(),
	} {
		if err := reg.Register(name, f); err != nil {
			return err
		}
	}
	return nil
}
