package historysync

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
	"mellium.im/xmlstream"
	"mellium.im/xmpp/mux"
	"mellium.im/xmpp/stanza"
)

// TestMuxTokensAreCopies guards the property of mellium.im/xmpp/mux that
// handleResult relies on to buffer tokens without copying them: the reader
// mux gives message handlers returns copies, which stay valid after the
// stream moves on (an xml.Decoder reuses its text buffer).
func TestMuxTokensAreCopies(t *testing.T) {
	var kept []xml.Token
	m := mux.New(stanza.NSClient, mux.MessageFunc(stanza.NormalMessage, nameResult, func(_ stanza.Message, r xmlstream.TokenReadEncoder) error {
		for {
			tok, err := r.Token()
			if tok != nil {
				kept = append(kept, tok)
			}
			if errors.Is(err, io.EOF) || tok == nil && err == nil {
				return nil
			}
			if err != nil {
				return err
			}
		}
	}))
	stream := `<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' id='1'><body>first text</body></result></message>` +
		`<message xmlns='jabber:client'><result xmlns='urn:xmpp:mam:2' id='2'><body>SECOND TEXT, LONGER</body></result></message>`
	d := xml.NewDecoder(bytes.NewReader([]byte(stream)))
	for range 2 {
		tok, err := d.Token()
		require.NoError(t, err)
		start := tok.(xml.StartElement)
		rw := struct {
			xml.TokenReader
			xmlstream.Encoder
		}{xmlstream.Inner(d), nil}
		require.NoError(t, m.HandleXMPP(rw, &start))
	}
	var texts []string
	for _, tok := range kept {
		if cd, ok := tok.(xml.CharData); ok {
			texts = append(texts, string(cd))
		}
	}
	require.Equal(t, []string{"first text", "SECOND TEXT, LONGER"}, texts)
}
