package main

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mellium.im/xmpp/jid"
)

func TestReadPasswordFromEnvironment(t *testing.T) {
	var prompt bytes.Buffer
	getenv := func(name string) string {
		if name == "MAMSYNC_PASSWORD" {
			return "s3cret"
		}
		return ""
	}
	pw, err := readPassword(getenv, nil, &prompt, jid.MustParse("alice@example.net"))
	require.NoError(t, err)
	assert.Equal(t, "s3cret", pw)
	assert.Empty(t, prompt.String(), "no prompt")
}

// TestReadPasswordNoTerminal: without the variable, a standard input that is
// not a terminal is not read.
func TestReadPasswordNoTerminal(t *testing.T) {
	stdin, err := os.Open(os.DevNull)
	require.NoError(t, err)
	defer stdin.Close()
	var prompt bytes.Buffer
	_, err = readPassword(func(string) string { return "" }, stdin, &prompt, jid.MustParse("alice@example.net"))
	require.ErrorIs(t, err, errNoPassword)
	assert.Empty(t, prompt.String(), "no prompt")
}
