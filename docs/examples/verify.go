// Verifies a PostStack webhook (X-PostStack-Signature). Standard library only.
//
//	usage: go run verify.go [SECRET SIGNATURE [TOLERANCE]] < raw-body
//
// SECRET and SIGNATURE default to $POSTSTACK_SECRET and $POSTSTACK_SIGNATURE.
// Prints "valid" and exits 0, or prints the reason and exits 1; 2 = usage.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

var (
	ErrBadFormat = errors.New("bad signature header format")
	ErrTooOld    = errors.New("timestamp too old")
	ErrTooNew    = errors.New("timestamp in the future")
	ErrNoMatch   = errors.New("no matching signature")
)

// Verify returns nil when signatureHeader signs rawBody (exactly as received)
// with secret (the whole "whsec_..." string) and its timestamp is within
// tolerance seconds of now; otherwise one of the errors above.
func Verify(secret, signatureHeader string, rawBody []byte, tolerance int64) error {
	t := ""
	var v1s [][]byte
	for _, item := range strings.Split(signatureHeader, ",") {
		key, value, found := strings.Cut(item, "=")
		if !found || key == "" {
			return ErrBadFormat
		}
		switch key {
		case "t":
			if t != "" || len(value) < 1 || len(value) > 12 || strings.Trim(value, "0123456789") != "" {
				return ErrBadFormat
			}
			t = value
		case "v1":
			sig, err := hex.DecodeString(value)
			if err != nil || len(sig) != sha256.Size {
				return ErrBadFormat
			}
			v1s = append(v1s, sig)
		}
		// Other schemes (v0=, v2=...) are skipped: new ones may be added.
	}
	if t == "" || len(v1s) == 0 {
		return ErrBadFormat
	}

	ts, _ := strconv.ParseInt(t, 10, 64) // 1 to 12 digits: cannot fail
	now := time.Now().Unix()
	if now-ts > tolerance {
		return ErrTooOld
	}
	if ts-now > tolerance {
		return ErrTooNew
	}

	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(t + "."))
	mac.Write(rawBody)
	expected := mac.Sum(nil)
	// hmac.Equal compares in constant time; every v1 is compared, match or not.
	matched := false
	for _, sig := range v1s {
		if hmac.Equal(sig, expected) {
			matched = true
		}
	}
	if !matched {
		return ErrNoMatch
	}
	return nil
}

func main() {
	secret, hasSecret := os.LookupEnv("POSTSTACK_SECRET")
	header, hasHeader := os.LookupEnv("POSTSTACK_SIGNATURE")
	tolerance := int64(300)
	args := os.Args[1:]
	var err error
	if len(args) > 0 {
		secret, hasSecret = args[0], true
	}
	if len(args) > 1 {
		header, hasHeader = args[1], true
	}
	if len(args) > 2 {
		tolerance, err = strconv.ParseInt(args[2], 10, 64)
	}
	if !hasSecret || !hasHeader || len(args) > 3 || err != nil || tolerance < 0 {
		fmt.Fprintln(os.Stderr, "usage: verify [SECRET SIGNATURE [TOLERANCE]] < raw-body")
		os.Exit(2)
	}
	body, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "verify: cannot read the body from standard input:", err)
		os.Exit(2)
	}
	if err := Verify(secret, header, body, tolerance); err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("valid")
}
