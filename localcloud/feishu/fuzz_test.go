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
