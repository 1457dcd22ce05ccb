package feishu_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"precheckwatch/internal/waitfor"
	"precheckwatch/localcloud/clock"
	"precheckwatch/localcloud/fault"
	"precheckwatch/localcloud/feishu"
)

const (
	appID     = "cli_apptest0001"
	appSecret = "apptestsecret"
	chatID    = "oc_apptestchat"
	// otherChat is a group the app's bot is not in.
	otherChat = "oc_elsewhere"
)

// platform starts an emulator with one app whose bot is in chatID.
func platform(t *testing.T, faults *fault.Injector, hangAfterDelivery bool) (*feishu.Server, *httptest.Server, *clock.Manual) {
	t.Helper()
	c := clock.At(time.Unix(1800000000, 0))
	emu := feishu.New(feishu.Config{
		Apps:   []feishu.App{{Name: "oncall app", ID: appID, Secret: appSecret}, {Name: "other app", ID: "cli_other", Secret: "other"}},
		Chats:  []feishu.Chat{{ID: chatID, Members: []string{appID}}, {ID: otherChat, Members: []string{"cli_other"}}},
		Faults: faults, HangAfterDelivery: hangAfterDelivery, Now: c.Now,
	})
	srv := httptest.NewServer(emu)
	t.Cleanup(srv.Close)
	return emu, srv, c
}

// reply is an Open Platform answer as read from the wire.
type reply struct {
	status int
	header http.Header
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
	Token  string `json:"tenant_access_token"`
	Expire int    `json:"expire"`
	Data   struct {
		MessageID string `json:"message_id"`
		ChatID    string `json:"chat_id"`
	} `json:"data"`
	Error struct {
		LogID string `json:"log_id"`
	} `json:"error"`
}

func call(t *testing.T, srv *httptest.Server, path, bearer string, body any) reply {
	t.Helper()
	raw, ok := body.([]byte)
	if !ok {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("answer of HTTP %d is not JSON: %v", resp.StatusCode, err)
	}
	return r
}

func token(t *testing.T, srv *httptest.Server, id, secret string) reply {
	t.Helper()
	return call(t, srv, feishu.TokenPath, "", map[string]string{"app_id": id, "app_secret": secret})
}

// cardMessage is a message request carrying an interactive card, its
// content a JSON string.
func cardMessage(chat, uuid, markdown string) map[string]any {
	c, _ := json.Marshal(card("❌ FAILED precheck", markdown)["card"])
	return map[string]any{"receive_id": chat, "msg_type": "interactive", "content": string(c), "uuid": uuid}
}

const toChat = feishu.MessagesPath + "?receive_id_type=chat_id"

func TestTokens(t *testing.T) {
	_, srv, c := platform(t, nil, false)
	cases := []struct {
		name       string
		id, secret string
		status     int
		code       int
	}{
		{"issued", appID, appSecret, 200, 0},
		{"wrong secret", appID, "nope", 400, feishu.CodeAppSecretInvalid},
		{"unknown app", "cli_nosuch", appSecret, 400, feishu.CodeInvalidParam},
		{"no secret", appID, "", 400, feishu.CodeInvalidParam},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := token(t, srv, tc.id, tc.secret)
			if r.status != tc.status || r.Code != tc.code || (tc.code == 0) != (r.Token != "") {
				t.Fatalf("HTTP %d %+v", r.status, r)
			}
			if tc.code == 0 && r.Expire != int(feishu.DefaultTokenTTL/time.Second) {
				t.Fatalf("expire %d", r.Expire)
			}
		})
	}
	// The same token while 30 minutes or more are left, with what is left;
	// a new one after, and the old one still works until it expires.
	first := token(t, srv, appID, appSecret)
	c.Advance(89 * time.Minute)
	if again := token(t, srv, appID, appSecret); again.Token != first.Token || again.Expire != 31*60 {
		t.Fatalf("with 31 minutes left: %+v, want %s with 1860 s", again, first.Token)
	}
	c.Advance(2 * time.Minute)
	renewed := token(t, srv, appID, appSecret)
	if renewed.Token == first.Token || renewed.Expire != 7200 {
		t.Fatalf("with 29 minutes left: %+v", renewed)
	}
	if r := call(t, srv, toChat, first.Token, cardMessage(chatID, "", "x")); r.Code != 0 {
		t.Fatalf("old token before its expiry: %+v", r)
	}
	c.Advance(30 * time.Minute)
	if r := call(t, srv, toChat, first.Token, cardMessage(chatID, "", "x")); r.status != 400 || r.Code != feishu.CodeAccessTokenInvalid {
		t.Fatalf("expired token: HTTP %d %+v", r.status, r)
	}
	if r := call(t, srv, toChat, renewed.Token, cardMessage(chatID, "", "x")); r.Code != 0 {
		t.Fatalf("new token: %+v", r)
	}
}

func TestMessageChecks(t *testing.T) {
	cases := []struct {
		name   string
		bearer string // "" for none, "-" for the app's token
		path   string
		body   any
		status int
		code   int
	}{
		{name: "sent", bearer: "-", body: cardMessage(chatID, "u-1", "body"), status: 200},
		{name: "text", bearer: "-", body: map[string]any{"receive_id": chatID, "msg_type": "text", "content": `{"text":"hi"}`}, status: 200},
		{name: "no token", body: cardMessage(chatID, "u-1", "body"), status: 400, code: feishu.CodeAccessTokenMissing},
		{name: "unknown token", bearer: "t-nosuch", body: cardMessage(chatID, "u-1", "body"), status: 400, code: feishu.CodeAccessTokenInvalid},
		{name: "no receive_id_type", bearer: "-", path: feishu.MessagesPath, body: cardMessage(chatID, "u-1", "body"), status: 400, code: feishu.CodeFieldInvalid},
		{name: "uuid of 51", bearer: "-", body: cardMessage(chatID, strings.Repeat("u", 51), "body"), status: 400, code: feishu.CodeFieldInvalid},
		{name: "uuid of 50", bearer: "-", body: cardMessage(chatID, strings.Repeat("u", 50), "body"), status: 200},
		{name: "not JSON", bearer: "-", body: []byte("{"), status: 400, code: feishu.CodeFieldInvalid},
		{name: "content as an object", bearer: "-", body: map[string]any{"receive_id": chatID, "msg_type": "interactive", "content": map[string]any{}}, status: 400, code: feishu.CodeFieldInvalid},
		{name: "unknown chat", bearer: "-", body: cardMessage("oc_nosuch", "u-1", "body"), status: 400, code: feishu.CodeParamInvalid},
		{name: "bot not in the chat", bearer: "-", body: cardMessage(otherChat, "u-1", "body"), status: 400, code: feishu.CodeBotNotInChat},
		{name: "card over 30 KB", bearer: "-", body: cardMessage(chatID, "u-1", strings.Repeat("x", 31<<10)), status: 400, code: feishu.CodeContentTooLong},
		{name: "card under 30 KB", bearer: "-", body: cardMessage(chatID, "u-1", strings.Repeat("x", 29<<10)), status: 200},
		{name: "not a card", bearer: "-", body: map[string]any{"receive_id": chatID, "msg_type": "interactive", "content": `{"x":1}`}, status: 400, code: feishu.CodeCardInvalid},
		{name: "text that is not JSON", bearer: "-", body: map[string]any{"receive_id": chatID, "msg_type": "text", "content": "hi"}, status: 400, code: feishu.CodeParamInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			emu, srv, _ := platform(t, nil, false)
			bearer := tc.bearer
			if bearer == "-" {
				bearer = token(t, srv, appID, appSecret).Token
			}
			path := tc.path
			if path == "" {
				path = toChat
			}
			r := call(t, srv, path, bearer, tc.body)
			if r.status != tc.status || r.Code != tc.code {
				t.Fatalf("HTTP %d %+v, want HTTP %d code %d", r.status, r, tc.status, tc.code)
			}
			if tc.code != 0 && r.Error.LogID == "" {
				t.Error("a refusal without a log_id")
			}
			if want := map[bool]int{true: 1, false: 0}[tc.code == 0]; len(emu.Messages()) != want {
				t.Fatalf("%d delivered, want %d", len(emu.Messages()), want)
			}
		})
	}
}

// A uuid sent again within the hour posts nothing and answers the first
// message; after the hour it posts again. Another uuid is another message.
func TestUUIDDedupe(t *testing.T) {
	emu, srv, c := platform(t, nil, false)
	tok := token(t, srv, appID, appSecret).Token
	first := call(t, srv, toChat, tok, cardMessage(chatID, "t-1:feishu:FAILED", "body"))
	c.Advance(59 * time.Minute)
	tok = token(t, srv, appID, appSecret).Token
	again := call(t, srv, toChat, tok, cardMessage(chatID, "t-1:feishu:FAILED", "body"))
	if first.Code != 0 || again.Code != 0 || again.Data.MessageID != first.Data.MessageID || len(emu.Messages()) != 1 {
		t.Fatalf("first %+v, again %+v, %d delivered", first, again, len(emu.Messages()))
	}
	if other := call(t, srv, toChat, tok, cardMessage(chatID, "t-2:feishu:FAILED", "body")); other.Data.MessageID == first.Data.MessageID || len(emu.Messages()) != 2 {
		t.Fatalf("another uuid: %+v, %d delivered", other, len(emu.Messages()))
	}
	c.Advance(2 * time.Minute)
	if late := call(t, srv, toChat, tok, cardMessage(chatID, "t-1:feishu:FAILED", "body")); late.Code != 0 || late.Data.MessageID == first.Data.MessageID || len(emu.Messages()) != 3 {
		t.Fatalf("after the hour: %+v, %d delivered", late, len(emu.Messages()))
	}
	if got := emu.Messages()[0]; got.Bot != "oncall app" || got.Chat != chatID || got.Title != "❌ FAILED precheck" || got.Text != "body" {
		t.Fatalf("delivered %+v", got)
	}
}

// A revoked token is refused; a fresh one works.
func TestRevokeTokens(t *testing.T) {
	emu, srv, _ := platform(t, nil, false)
	tok := token(t, srv, appID, appSecret).Token
	emu.RevokeTokens()
	if r := call(t, srv, toChat, tok, cardMessage(chatID, "", "x")); r.Code != feishu.CodeAccessTokenInvalid {
		t.Fatalf("revoked: %+v", r)
	}
	fresh := token(t, srv, appID, appSecret)
	if r := call(t, srv, toChat, fresh.Token, cardMessage(chatID, "", "x")); fresh.Token == tok || r.Code != 0 || emu.TokensIssued() != 2 {
		t.Fatalf("fresh %+v: %+v, %d issued", fresh, r, emu.TokensIssued())
	}
}

// Five messages a second to a chat; a sixth is refused with 230020, and
// the app's 50 requests a second with HTTP 429 and its reset.
func TestAppRateLimits(t *testing.T) {
	emu, srv, c := platform(t, nil, false)
	tok := token(t, srv, appID, appSecret).Token
	for i := range feishu.ChatPerSecond {
		if r := call(t, srv, toChat, tok, cardMessage(chatID, "u-"+strconv.Itoa(i), "x")); r.Code != 0 {
			t.Fatalf("message %d: %+v", i+1, r)
		}
	}
	if r := call(t, srv, toChat, tok, cardMessage(chatID, "u-6", "x")); r.status != 400 || r.Code != feishu.CodeChatFrequency {
		t.Fatalf("sixth: HTTP %d %+v", r.status, r)
	}
	// A repeat of a sent uuid sends nothing, so the chat's pace lets it by.
	if r := call(t, srv, toChat, tok, cardMessage(chatID, "u-0", "x")); r.Code != 0 {
		t.Fatalf("repeat: %+v", r)
	}
	c.Advance(time.Second)
	var last reply
	for range feishu.AppPerSecond {
		last = call(t, srv, toChat, tok, cardMessage(chatID, "u-0", "x"))
	}
	if last.Code != 0 {
		t.Fatalf("50th request: %+v", last)
	}
	r := call(t, srv, toChat, tok, cardMessage(chatID, "u-0", "x"))
	if r.status != http.StatusTooManyRequests || r.Code != feishu.CodeRateLimited || r.header.Get("x-ogw-ratelimit-reset") == "" {
		t.Fatalf("51st request: HTTP %d %v %+v", r.status, r.header, r)
	}
	if n := len(emu.Messages()); n != feishu.ChatPerSecond {
		t.Fatalf("%d delivered, want %d", n, feishu.ChatPerSecond)
	}
}

// Faults reach the app bot too: throttling as the API's 429, and a hang
// after delivery that loses the answer of a message that was posted.
func TestAppFaults(t *testing.T) {
	faults := fault.New(1)
	emu, srv, _ := platform(t, faults, true)
	tok := token(t, srv, appID, appSecret).Token
	faults.Set(fault.Throttle, 1)
	if r := call(t, srv, toChat, tok, cardMessage(chatID, "u-1", "x")); r.status != http.StatusTooManyRequests || r.Code != feishu.CodeRateLimited {
		t.Fatalf("throttled: HTTP %d %+v", r.status, r)
	}
	faults.Reset()
	faults.Set(fault.Hang, 1)
	// The client gives up once the message is delivered, its answer held.
	ctx, cancel := waitfor.GiveUpWhen(10*time.Second, func() bool { return len(emu.Messages()) > 0 })
	defer cancel()
	raw, _ := json.Marshal(cardMessage(chatID, "u-1", "x"))
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+toChat, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := srv.Client().Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("a hang answered")
	}
	if n := len(emu.Messages()); n != 1 {
		t.Fatalf("%d delivered behind the lost answer, want 1", n)
	}
}
