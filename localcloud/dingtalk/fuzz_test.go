package dingtalk

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzSend feeds arbitrary bodies to the robot: every answer must be HTTP
// 200 with a JSON errcode, and nothing may panic.
func FuzzSend(f *testing.F) {
	f.Add(`{"msgtype":"markdown","markdown":{"title":"t","text":"x"},"at":{"atMobiles":["1"]}}`)
	f.Add(`{"msgtype":"actionCard","actionCard":{"title":"t","text":"x","btns":[{"title":"a","actionURL":"u"}]}}`)
	f.Add(`{"msgtype":"link","link":{"title":"t","text":"x","messageUrl":"u"}}`)
	f.Add(`{"msgtype":"text","text":null,"msgUuid":7}`)
	srv := New(Config{Robots: []Robot{{Token: "t"}}})
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/robot/send?access_token=t", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var a answer
		if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &a) != nil {
			t.Fatalf("answer %d %q", rec.Code, rec.Body.String())
		}
	})
}
