package securitycenter

import (
	"strings"
	"testing"
)

// The vectors of reference/sas-openapi.md §2.2; the first is the official
// documentation's example.
func TestSignatureVectors(t *testing.T) {
	describeRegions := map[string]string{
		"AccessKeyId":      "testid",
		"Action":           "DescribeRegions",
		"Format":           "XML",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
		"SignatureVersion": "1.0",
		"Timestamp":        "2016-02-23T12:46:24Z",
		"Version":          "2014-05-26",
	}
	query := map[string]string{
		"AccessKeyId":      "STS.testid",
		"Action":           "QueryPreCheckDatabase",
		"Format":           "JSON",
		"InstanceUuid":     "ebc895506c6911ed800000163e0e0001",
		"RegionId":         "cn-shanghai",
		"SecurityToken":    "tok+en/=",
		"SignatureMethod":  "HMAC-SHA1",
		"SignatureNonce":   "0123456789abcdef0123456789abcdef",
		"SignatureType":    "",
		"SignatureVersion": "1.0",
		"TaskId":           "t-000bc9nqwxsbyvod0001",
		"Timestamp":        "2024-01-02T03:04:05Z",
		"UniRegionId":      "cn-hangzhou",
		"Version":          "2018-12-03",
		"Signature":        "ignored: never signed",
	}
	tests := []struct {
		name, method string
		params       map[string]string
		want         string
		contains     string
	}{
		{"official GET", "GET", describeRegions, "OLeaidS1JvxuMvnyHOwuJ+uX5qY=", "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions"},
		{"official as POST", "POST", describeRegions, "MxbnVAM4w6sft9xjVpe/GCKueuk=", "POST&%2F&"},
		{"SDK-shaped STS POST", "POST", query, "lBqmUgxUEee52OkdH0md6Vbvg+g=",
			"SecurityToken%3Dtok%252Ben%252F%253D%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D0123456789abcdef0123456789abcdef%26SignatureType%3D%26SignatureVersion"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sts := StringToSign(tt.method, tt.params)
			if !strings.Contains(sts, tt.contains) {
				t.Errorf("string to sign %q lacks %q", sts, tt.contains)
			}
			if got := Signature(sts, "testsecret"); got != tt.want {
				t.Errorf("signature = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestPercentEncode(t *testing.T) {
	for in, want := range map[string]string{
		"a b":    "a%20b",
		"*":      "%2A",
		"~-_.":   "~-_.",
		"+/=":    "%2B%2F%3D",
		"中":      "%E4%B8%AD",
		"":       "",
		"AZaz09": "AZaz09",
	} {
		if got := percentEncode(in); got != want {
			t.Errorf("percentEncode(%q) = %q, want %q", in, got, want)
		}
	}
}
