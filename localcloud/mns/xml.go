package mns

import (
	"encoding/xml"
	"strconv"
	"time"
)

// namespace is the xmlns of every response root (reference §2.3).
const namespace = "http://mns.aliyuncs.com/doc/v1/"

// Request bodies. Field pointers tell an absent element from a zero one:
// the Go SDK always sends <Priority>, other clients may leave it out.
type sendRequest struct {
	XMLName      xml.Name `xml:"Message"`
	MessageBody  *string  `xml:"MessageBody"`
	DelaySeconds *string  `xml:"DelaySeconds"`
	Priority     *string  `xml:"Priority"`
}

type batchSendRequest struct {
	XMLName  xml.Name      `xml:"Messages"`
	Messages []sendRequest `xml:"Message"`
}

type receiptHandles struct {
	XMLName xml.Name `xml:"ReceiptHandles"`
	Handles []string `xml:"ReceiptHandle"`
}

type queueRequest struct {
	XMLName                xml.Name `xml:"Queue"`
	DelaySeconds           *string  `xml:"DelaySeconds"`
	MaximumMessageSize     *string  `xml:"MaximumMessageSize"`
	MessageRetentionPeriod *string  `xml:"MessageRetentionPeriod"`
	VisibilityTimeout      *string  `xml:"VisibilityTimeout"`
	PollingWaitSeconds     *string  `xml:"PollingWaitSeconds"`
}

// Response bodies.
type errorBody struct {
	XMLName   xml.Name `xml:"Error"`
	Xmlns     string   `xml:"xmlns,attr"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

type sentBody struct {
	XMLName        xml.Name `xml:"Message"`
	Xmlns          string   `xml:"xmlns,attr,omitempty"`
	MessageID      string   `xml:"MessageId,omitempty"`
	MessageBodyMD5 string   `xml:"MessageBodyMD5,omitempty"`
	ReceiptHandle  string   `xml:"ReceiptHandle,omitempty"`
	ErrorCode      string   `xml:"ErrorCode,omitempty"`
	ErrorMessage   string   `xml:"ErrorMessage,omitempty"`
}

type batchSentBody struct {
	XMLName  xml.Name   `xml:"Messages"`
	Xmlns    string     `xml:"xmlns,attr"`
	Messages []sentBody `xml:"Message"`
}

// messageBody is a received or peeked message; a peek has no handle and no
// NextVisibleTime.
type messageBody struct {
	XMLName          xml.Name `xml:"Message"`
	Xmlns            string   `xml:"xmlns,attr,omitempty"`
	MessageID        string   `xml:"MessageId"`
	ReceiptHandle    string   `xml:"ReceiptHandle,omitempty"`
	MessageBody      string   `xml:"MessageBody"`
	MessageBodyMD5   string   `xml:"MessageBodyMD5"`
	EnqueueTime      int64    `xml:"EnqueueTime"`
	NextVisibleTime  int64    `xml:"NextVisibleTime,omitempty"`
	FirstDequeueTime int64    `xml:"FirstDequeueTime"`
	DequeueCount     int      `xml:"DequeueCount"`
	Priority         int      `xml:"Priority"`
}

type batchMessageBody struct {
	XMLName  xml.Name      `xml:"Messages"`
	Xmlns    string        `xml:"xmlns,attr"`
	Messages []messageBody `xml:"Message"`
}

type deleteFailure struct {
	XMLName       xml.Name `xml:"Error"`
	ErrorCode     string   `xml:"ErrorCode"`
	ErrorMessage  string   `xml:"ErrorMessage"`
	ReceiptHandle string   `xml:"ReceiptHandle"`
}

type deleteFailures struct {
	XMLName xml.Name        `xml:"Errors"`
	Xmlns   string          `xml:"xmlns,attr"`
	Errors  []deleteFailure `xml:"Error"`
}

type visibilityBody struct {
	XMLName         xml.Name `xml:"ChangeVisibility"`
	Xmlns           string   `xml:"xmlns,attr"`
	ReceiptHandle   string   `xml:"ReceiptHandle"`
	NextVisibleTime int64    `xml:"NextVisibleTime"`
}

type queueBody struct {
	XMLName                xml.Name `xml:"Queue"`
	Xmlns                  string   `xml:"xmlns,attr"`
	QueueName              string   `xml:"QueueName"`
	CreateTime             int64    `xml:"CreateTime"`
	LastModifyTime         int64    `xml:"LastModifyTime"`
	DelaySeconds           int      `xml:"DelaySeconds"`
	MaximumMessageSize     int      `xml:"MaximumMessageSize"`
	MessageRetentionPeriod int      `xml:"MessageRetentionPeriod"`
	VisibilityTimeout      int      `xml:"VisibilityTimeout"`
	PollingWaitSeconds     int      `xml:"PollingWaitSeconds"`
	ActiveMessages         int      `xml:"ActiveMessages"`
	InactiveMessages       int      `xml:"InactiveMessages"`
	DelayMessages          int      `xml:"DelayMessages"`
	LoggingEnabled         bool     `xml:"LoggingEnabled"`
}

func millis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func toMessageBody(m Message) messageBody {
	return messageBody{
		MessageID:        m.ID,
		ReceiptHandle:    m.Handle,
		MessageBody:      m.Body,
		MessageBodyMD5:   m.BodyMD5,
		EnqueueTime:      millis(m.EnqueueTime),
		NextVisibleTime:  millis(m.NextVisibleTime),
		FirstDequeueTime: millis(m.FirstDequeueTime),
		DequeueCount:     m.DequeueCount,
		Priority:         m.Priority,
	}
}

// intField parses an optional integer element; absent gives def.
func intField(v *string, def int) (int, bool) {
	if v == nil {
		return def, true
	}
	n, err := strconv.Atoi(*v)
	return n, err == nil
}
