package slack

import (
	"encoding/json"
	"testing"
)

// FuzzCheckContent feeds arbitrary blocks and attachments to the payload
// checks: they must refuse or accept, never panic.
func FuzzCheckContent(f *testing.F) {
	f.Add(`[{"type":"header","text":{"type":"plain_text","text":"t"}}]`, `[{"color":"good","blocks":[{"type":"divider"}]}]`)
	f.Add(`[{"type":"section","fields":[{"type":"mrkdwn","text":"a"}]},{"type":"context","elements":[{"type":"image","alt_text":"x"}]}]`, `null`)
	f.Add(`[{"type":"table","rows":[[{"type":"raw_text","text":"a"},{"type":"rich_text","elements":[{"type":"rich_text_section","elements":[{"type":"text","text":"b"}]}]}]]}]`, `[]`)
	f.Add(`[{"type":"markdown","text":{}}]`, `[{"blocks":{}}]`)
	f.Fuzz(func(t *testing.T, blocks, attachments string) {
		text := "x"
		c, code, problems := checkContent(&text, json.RawMessage(blocks), json.RawMessage(attachments))
		if code == "" && len(problems) > 0 {
			t.Fatalf("accepted with problems %v", problems)
		}
		_ = Message{Text: text, Blocks: c.blocks, Attachments: c.attachments}.PlainText()
	})
}
