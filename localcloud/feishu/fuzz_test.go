package feishu

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSend feeds arbitrary bodies to the bot: every answer must be HTTP
// 200 with a JSON code, and nothing may panic.
func FuzzSend(f *testing.F) {
	f.Add(`{"msg_type":"interactive","card":{"header":{"title":{"tag":"plain_text","content":"t"}},"elements":[{"tag":"markdown","content":"<at id=ou_1></at>"}]}}`)
	f.Add(`{"msg_type":"post","content":{"post":{"zh_cn":{"title":"t","content":[[{"tag":"at","user_id":"ou_1"}]]}}}}`)
	f.Add(`{"msg_type":"text","content":{"text":"<at user_id=\"ou_1\">x</at>"}}`)
	f.Add(`{"msg_type":"interactive","card":{"elements":[{"tag":"action","actions":[{"text":{"content":7}}]}]},"timestamp":1}`)
	srv := New(Config{Bots: []Bot{{Token: "t"}}})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", HookPath+"t", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var a answer
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
		}
	})
}

// FuzzCreateMessage feeds arbitrary bodies to the app bot's message API:
// every answer must be JSON with a code, and nothing may panic.
func FuzzCreateMessage(f *testing.F) {
	f.Add(`{"receive_id":"oc_1","msg_type":"interactive","content":"{\"header\":{\"title\":{\"content\":\"t\"}},\"elements\":[]}","uuid":"u"}`)
	f.Add(`{"receive_id":"oc_1","msg_type":"text","content":"{\"text\":\"<at user_id=\\\"ou_1\\\">x</at>\"}"}`)
	f.Add(`{"receive_id":"oc_1","msg_type":"post","content":"{\"post\":{}}"}`)
	f.Add(`{"receive_id":7}`)
	srv := New(Config{Apps: []App{{ID: "cli_1", Secret: "s"}}, Chats: []Chat{{ID: "oc_1", Members: []string{"cli_1"}}}})
	tok := httptest.NewRecorder()
	req := httptest.NewRequest("POST", TokenPath, strings.NewReader(`{"app_id":"cli_1","app_secret":"s"}`))
	req.Header.Set("Content-Type", "application/json")
	srv.ServeHTTP(tok, req)
	var issued struct {
		Token string `json:"tenant_access_token"`
	}
	if err := json.Unmarshal(tok.Body.Bytes(), &issued); err != nil || issued.Token == "" {
		f.Fatalf("no token: %s", tok.Body.String())
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", MessagesPath+"?receive_id_type=chat_id", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+issued.Token)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var a apiAnswer
		if json.Unmarshal(rec.Body.Bytes(), &a) != nil || (rec.Code == 200) != (a.Code == 0) {
			t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
		}
	})
}
