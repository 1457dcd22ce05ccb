package securitycenter

import (
	"fmt"
	"net/http"
)

// apiError is one gateway or Security Center error answer.
type apiError struct {
	status  int
	code    string
	message string
}

// The answers below follow reference/sas-openapi.md §2.5; where the notes
// name no code, the code is the gateway's as seen in public SDK issues.
func errMissingParameter(name string) *apiError {
	return &apiError{http.StatusBadRequest, "MissingParameter",
		fmt.Sprintf("The input parameter %q that is mandatory for processing this request is not supplied.", name)}
}

func errInvalidParameter(name string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameter",
		fmt.Sprintf("The specified parameter %q is not valid.", name)}
}

func errInvalidParam(message string) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParam", message}
}

var (
	errIncompleteSignature = &apiError{http.StatusBadRequest, "IncompleteSignature",
		"The request signature does not conform to Aliyun standards."}
	errActionNotFound = &apiError{http.StatusNotFound, "InvalidAction.NotFound",
		"Specified api is not found, please check your url and method."}
	errInvalidVersion = &apiError{http.StatusBadRequest, "InvalidVersion",
		"Specified parameter Version is not valid."}
	errTimestampFormat = &apiError{http.StatusBadRequest, "InvalidTimeStamp.Format",
		"Specified time stamp or date value is not well formatted."}
	errTimestampExpired = &apiError{http.StatusBadRequest, "InvalidTimeStamp.Expired",
		"Specified time stamp or date value is expired."}
	errNonceUsed = &apiError{http.StatusBadRequest, "SignatureNonceUsed",
		"Specified signature nonce was used already."}
	errAccessKeyNotFound = &apiError{http.StatusNotFound, "InvalidAccessKeyId.NotFound",
		"Specified access key is not found."}
	errMissingSecurityToken = &apiError{http.StatusBadRequest, "MissingSecurityToken",
		"SecurityToken is mandatory for this action."}
	errSecurityTokenMismatch = &apiError{http.StatusBadRequest, "InvalidSecurityToken.MismatchWithAccessKey",
		"Specified SecurityToken mismatch with the AccessKey."}
	// An expired STS token has been seen answered this way (kubevela/terraform-controller#52).
	errSecurityTokenExpired = &apiError{http.StatusBadRequest, "InvalidParameter",
		`The specified parameter "SecurityToken.Expired" is not valid.`}
	errNoPermission = &apiError{http.StatusForbidden, "NoPermission", "caller has no permission"}
	errThrottling   = &apiError{http.StatusBadRequest, "Throttling.User",
		"Request was denied due to user flow control."}
	errServiceUnavailable = &apiError{http.StatusServiceUnavailable, "ServiceUnavailable",
		"The request has failed due to a temporary failure of the server."}
	errServerError = &apiError{http.StatusInternalServerError, "ServerError", "ServerError"}
)

// errSignatureDoesNotMatch echoes the server's string to sign after the
// marker the SDK splits on, so the SDK can tell a wrong secret from a
// signing bug.
func errSignatureDoesNotMatch(stringToSign string) *apiError {
	return &apiError{http.StatusBadRequest, "SignatureDoesNotMatch",
		"Specified signature is not matched with our calculation. server string to sign is:" + stringToSign}
}
