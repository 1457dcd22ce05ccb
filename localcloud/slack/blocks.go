package slack

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Block Kit limits, as Slack enforces them (docs.slack.dev block reference;
// the total is undocumented, observed in slackapi/bolt-js#2509).
const (
	maxBlocks          = 50
	maxSectionText     = 3000
	maxHeaderText      = 150
	maxFields          = 10
	maxFieldText       = 2000
	maxContextElements = 10
	maxActionElements  = 25
	maxButtonText      = 75
	maxMarkdownText    = 12000
	maxTableRows       = 100
	maxTableCells      = 20
	maxBlockID         = 255
	maxAttachments     = 100
	// maxBlocksTextTotal is where Slack answers msg_blocks_too_long: about
	// 13k characters of text across all blocks of a message.
	maxBlocksTextTotal = 13000
	// maxMessageText is where Slack truncates top-level text with a
	// message_truncated warning.
	maxMessageText = 40000
)

// Block is one decoded Block Kit block of a recorded message, with the text
// a reader sees pulled out of it.
type Block struct {
	Type    string
	BlockID string
	// Text is a header's or section's text, or a markdown block's body.
	Text string
	// Fields are a section's two-column fields.
	Fields []string
	// Elements are the texts of context elements and action buttons.
	Elements []string
	// Rows are a table's cells, row by row.
	Rows [][]string
	// Raw is the block as sent.
	Raw json.RawMessage
}

// Attachment is one decoded legacy attachment of a recorded message.
type Attachment struct {
	Color    string
	Fallback string
	Title    string
	Text     string
	Blocks   []Block
	Raw      json.RawMessage
}

// blockError is an invalid_blocks complaint in Slack's wording:
// "<problem> [json-pointer:<where>]".
type blockError struct{ problems []string }

func (e *blockError) add(pointer, format string, args ...any) {
	e.problems = append(e.problems, fmt.Sprintf(format, args...)+" [json-pointer:"+pointer+"]")
}

// textObject is a Block Kit composition text object.
type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// wireBlock holds every block field the emulator checks; Text stays raw
// because a markdown block's text is a string, a section's an object.
type wireBlock struct {
	Type     string            `json:"type"`
	BlockID  string            `json:"block_id"`
	Text     json.RawMessage   `json:"text"`
	Fields   []textObject      `json:"fields"`
	Elements []json.RawMessage `json:"elements"`
	Rows     [][]tableCell     `json:"rows"`
}

type tableCell struct {
	Type     string          `json:"type"`
	Text     string          `json:"text"`
	Elements json.RawMessage `json:"elements"`
}

// element is a context element (a text object or an image) or an action
// element (a button, whose label is a text object).
type element struct {
	Type     string          `json:"type"`
	Text     json.RawMessage `json:"text"`
	AltText  string          `json:"alt_text"`
	URL      string          `json:"url"`
	Elements json.RawMessage `json:"elements"`
}

var knownBlockTypes = map[string]bool{
	"section": true, "header": true, "divider": true, "context": true, "actions": true,
	"image": true, "markdown": true, "rich_text": true, "table": true, "video": true,
	"file": true, "input": true,
}

// decodeBlocks parses and checks a blocks array found at pointer (e.g.
// "/blocks"). It returns the blocks, the reader-visible characters they
// hold, and Slack's complaints.
func decodeBlocks(raw json.RawMessage, pointer string, errs *blockError) ([]Block, int) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		errs.add(pointer, "must be an array")
		return nil, 0
	}
	if len(items) > maxBlocks {
		errs.add(pointer, "must be no more than %d items", maxBlocks)
	}
	var (
		out   []Block
		total int
		ids   = map[string]bool{}
	)
	for i, item := range items {
		at := fmt.Sprintf("%s/%d", pointer, i)
		var w wireBlock
		if err := json.Unmarshal(item, &w); err != nil {
			errs.add(at, "must be an object")
			continue
		}
		if !knownBlockTypes[w.Type] {
			errs.add(at, "failed to match all allowed schemas")
			continue
		}
		if len(w.BlockID) > maxBlockID {
			errs.add(at+"/block_id", "must be less than %d characters", maxBlockID+1)
		}
		if w.BlockID != "" {
			if ids[w.BlockID] {
				errs.add(at+"/block_id", "duplicate block_id")
			}
			ids[w.BlockID] = true
		}
		b := Block{Type: w.Type, BlockID: w.BlockID, Raw: append(json.RawMessage(nil), item...)}
		total += checkBlock(&b, w, at, errs)
		out = append(out, b)
	}
	return out, total
}

// checkBlock applies the per-type limits, fills b's texts and returns how
// many characters they hold.
func checkBlock(b *Block, w wireBlock, at string, errs *blockError) int {
	n := 0
	switch w.Type {
	case "header":
		t, ok := decodeText(w.Text, at+"/text", errs, true)
		if ok && t.Type != "plain_text" {
			errs.add(at+"/text/type", "must be plain_text")
		}
		checkLen(t.Text, maxHeaderText, at+"/text/text", errs)
		b.Text = t.Text
	case "section":
		if len(w.Text) == 0 && len(w.Fields) == 0 {
			errs.add(at, "must provide either text or fields")
		}
		if len(w.Text) > 0 {
			t, _ := decodeText(w.Text, at+"/text", errs, true)
			checkLen(t.Text, maxSectionText, at+"/text/text", errs)
			b.Text = t.Text
		}
		if len(w.Fields) > maxFields {
			errs.add(at+"/fields", "must be no more than %d items", maxFields)
		}
		for j, f := range w.Fields {
			fp := fmt.Sprintf("%s/fields/%d", at, j)
			checkTextObject(f, fp, errs)
			checkLen(f.Text, maxFieldText, fp+"/text", errs)
			b.Fields = append(b.Fields, f.Text)
		}
	case "markdown":
		var s string
		if err := json.Unmarshal(w.Text, &s); err != nil || s == "" {
			errs.add(at+"/text", "must be a non-empty string")
		}
		checkLen(s, maxMarkdownText, at+"/text", errs)
		b.Text = s
	case "context":
		if len(w.Elements) == 0 {
			errs.add(at+"/elements", "must have at least 1 item")
		}
		if len(w.Elements) > maxContextElements {
			errs.add(at+"/elements", "must be no more than %d items", maxContextElements)
		}
		for j, raw := range w.Elements {
			b.Elements = append(b.Elements, elementText(raw, fmt.Sprintf("%s/elements/%d", at, j), errs))
		}
	case "actions":
		if len(w.Elements) == 0 {
			errs.add(at+"/elements", "must have at least 1 item")
		}
		if len(w.Elements) > maxActionElements {
			errs.add(at+"/elements", "must be no more than %d items", maxActionElements)
		}
		for j, raw := range w.Elements {
			ep := fmt.Sprintf("%s/elements/%d", at, j)
			label := elementText(raw, ep, errs)
			checkLen(label, maxButtonText, ep+"/text/text", errs)
			b.Elements = append(b.Elements, label)
		}
	case "table":
		if len(w.Rows) > maxTableRows {
			errs.add(at+"/rows", "must be no more than %d items", maxTableRows)
		}
		for j, row := range w.Rows {
			if len(row) > maxTableCells {
				errs.add(fmt.Sprintf("%s/rows/%d", at, j), "must be no more than %d items", maxTableCells)
			}
			var cells []string
			for _, c := range row {
				text := c.Text
				if c.Type == "rich_text" {
					text = richText(c.Elements)
				}
				cells = append(cells, text)
			}
			b.Rows = append(b.Rows, cells)
		}
	case "rich_text":
		raw, _ := json.Marshal(w.Elements)
		b.Text = richText(raw)
	}
	n += utf8.RuneCountInString(b.Text)
	for _, s := range b.Fields {
		n += utf8.RuneCountInString(s)
	}
	for _, s := range b.Elements {
		n += utf8.RuneCountInString(s)
	}
	for _, row := range b.Rows {
		for _, s := range row {
			n += utf8.RuneCountInString(s)
		}
	}
	return n
}

func decodeText(raw json.RawMessage, at string, errs *blockError, required bool) (textObject, bool) {
	var t textObject
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			errs.add(at, "must be provided")
		}
		return t, false
	}
	if err := json.Unmarshal(raw, &t); err != nil {
		errs.add(at, "must be a text object")
		return t, false
	}
	checkTextObject(t, at, errs)
	return t, true
}

func checkTextObject(t textObject, at string, errs *blockError) {
	if t.Type != "plain_text" && t.Type != "mrkdwn" {
		errs.add(at+"/type", "must be one of plain_text, mrkdwn")
	}
	if t.Text == "" {
		errs.add(at+"/text", "must be more than 0 characters")
	}
}

func checkLen(s string, max int, at string, errs *blockError) {
	if utf8.RuneCountInString(s) > max {
		errs.add(at, "must be less than %d characters", max+1)
	}
}

// elementText returns what a reader sees of a context or action element.
func elementText(raw json.RawMessage, at string, errs *blockError) string {
	var e element
	if err := json.Unmarshal(raw, &e); err != nil {
		errs.add(at, "must be an object")
		return ""
	}
	switch e.Type {
	case "plain_text", "mrkdwn":
		var t textObject
		_ = json.Unmarshal(raw, &t)
		checkTextObject(t, at, errs)
		return t.Text
	case "image":
		return e.AltText
	case "button":
		t, _ := decodeText(e.Text, at+"/text", errs, true)
		return t.Text
	default:
		if len(e.Text) > 0 {
			var t textObject
			if json.Unmarshal(e.Text, &t) == nil {
				return t.Text
			}
		}
		return ""
	}
}

// richText collects the text leaves of rich text elements, in order.
func richText(raw json.RawMessage) string {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var sb strings.Builder
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if s, ok := x["text"].(string); ok {
				sb.WriteString(s)
			}
			if e, ok := x["elements"]; ok {
				walk(e)
			}
		}
	}
	walk(v)
	return sb.String()
}

// decodeAttachments parses and checks an attachments array.
func decodeAttachments(raw json.RawMessage, errs *blockError) ([]Attachment, int, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, 0, err
	}
	if len(items) > maxAttachments {
		return nil, 0, errTooManyAttachments
	}
	var (
		out   []Attachment
		total int
	)
	for i, item := range items {
		var w struct {
			Color    string          `json:"color"`
			Fallback string          `json:"fallback"`
			Title    string          `json:"title"`
			Text     string          `json:"text"`
			Blocks   json.RawMessage `json:"blocks"`
		}
		if err := json.Unmarshal(item, &w); err != nil {
			return nil, 0, err
		}
		a := Attachment{Color: w.Color, Fallback: w.Fallback, Title: w.Title, Text: w.Text, Raw: append(json.RawMessage(nil), item...)}
		if len(w.Blocks) > 0 && string(w.Blocks) != "null" {
			var n int
			a.Blocks, n = decodeBlocks(w.Blocks, fmt.Sprintf("/attachments/%d/blocks", i), errs)
			total += n
		}
		out = append(out, a)
	}
	return out, total, nil
}

// PlainText renders the message as a person reading it in Slack would see
// it: the blocks line by line (or the text when there are none), then each
// attachment behind a bar (Slack colours it; the text carries the meaning).
func (m Message) PlainText() string {
	var lines []string
	if len(m.Blocks) == 0 {
		lines = append(lines, strings.Split(m.Text, "\n")...)
	}
	lines = append(lines, blockLines(m.Blocks)...)
	for _, a := range m.Attachments {
		bar := "▌"
		inner := blockLines(a.Blocks)
		if len(a.Blocks) == 0 {
			for _, s := range []string{a.Title, a.Text} {
				if s != "" {
					inner = append(inner, strings.Split(s, "\n")...)
				}
			}
		}
		for _, l := range inner {
			lines = append(lines, bar+" "+l)
		}
	}
	return strings.Join(lines, "\n")
}

func blockLines(blocks []Block) []string {
	var lines []string
	for _, b := range blocks {
		switch b.Type {
		case "divider":
			lines = append(lines, "────────")
		case "context":
			lines = append(lines, strings.Join(b.Elements, " · "))
		case "actions":
			var labels []string
			for _, e := range b.Elements {
				labels = append(labels, "["+e+"]")
			}
			lines = append(lines, strings.Join(labels, " "))
		case "table":
			for _, row := range b.Rows {
				lines = append(lines, strings.Join(row, " | "))
			}
		default:
			if b.Text != "" {
				lines = append(lines, strings.Split(b.Text, "\n")...)
			}
			for _, f := range b.Fields {
				lines = append(lines, "  "+strings.ReplaceAll(f, "\n", " "))
			}
		}
	}
	return lines
}
