package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"
	"mellium.im/xmpp/jid"
)

// passwordEnv is the environment variable mamsync reads the password from.
const passwordEnv = "MAMSYNC_PASSWORD"

// errNoPassword: no password in the environment and no terminal to ask on.
var errNoPassword = errors.New("no password: set " + passwordEnv + " or run mamsync on a terminal")

// readPassword returns the account's password: from MAMSYNC_PASSWORD, or
// asked on stdin when it is a terminal (without echo, the prompt on prompt).
func readPassword(getenv func(string) string, stdin *os.File, prompt io.Writer, account jid.JID) (string, error) {
	if pw := getenv(passwordEnv); pw != "" {
		return pw, nil
	}
	if stdin == nil || !term.IsTerminal(int(stdin.Fd())) {
		return "", errNoPassword
	}
	fmt.Fprintf(prompt, "Password for %s: ", account)
	pw, err := term.ReadPassword(int(stdin.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	if len(pw) == 0 {
		return "", errors.New("empty password")
	}
	return string(pw), nil
}
