package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"mellium.im/xmpp/jid"

	"github.com/mapleak/mapleak/reference/historysync"
)

// exportBatch is how many messages the export reads from the store at once.
const exportBatch = 1000

// exportedMessage is one line of -export jsonl.
type exportedMessage struct {
	Archive   string    `json:"archive"`    // "account:JID" or "room:JID"
	ArchiveID string    `json:"archive_id"` // the archive's id of the message (its stanza-id)
	Pos       int64     `json:"pos"`        // archive order
	Time      time.Time `json:"time"`
	From      string    `json:"from,omitempty"`
	To        string    `json:"to,omitempty"`
	Type      string    `json:"type,omitempty"`
	ID        string    `json:"id,omitempty"` // the stanza's id attribute
	OriginID  string    `json:"origin_id,omitempty"`
	Body      string    `json:"body,omitempty"`
	Aliases   []string  `json:"aliases,omitempty"` // other archive ids of the same message
	Omitted   string    `json:"omitted,omitempty"` // why the payload was not kept
	Live      bool      `json:"live,omitempty"`    // stored as received live, not from the archive
	Raw       string    `json:"raw,omitempty"`     // the archived <message/> as XML
}

// runExport writes the stored messages of -archive to w as JSON lines, in
// archive order.
func runExport(ctx context.Context, cfg config, w io.Writer) error {
	db, err := openDatabase(ctx, cfg.dbPath, false)
	if err != nil {
		return err
	}
	defer db.Close()
	archive, err := storedArchive(ctx, db, cfg.archive)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false) // keep the raw XML readable
	q := historysync.MessageQuery{After: historysync.MinPos, Before: historysync.MaxPos, Limit: exportBatch}
	for {
		msgs, err := db.Messages(ctx, archive, q)
		if err != nil {
			return fmt.Errorf("export %s: %w", archive, err)
		}
		for _, m := range msgs {
			if err := enc.Encode(exported(archive, m)); err != nil {
				return fmt.Errorf("export %s: %w", archive, err)
			}
		}
		if len(msgs) < exportBatch {
			break
		}
		q.After = msgs[len(msgs)-1].Pos
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("export %s: %w", archive, err)
	}
	return nil
}

// storedArchive returns the archive of j that the database holds: the
// account archive or the room archive of that JID.
func storedArchive(ctx context.Context, db *database, j jid.JID) (historysync.Archive, error) {
	for _, a := range []historysync.Archive{historysync.Account(j), historysync.Room(j)} {
		ranges, err := db.Ranges(ctx, a)
		if err != nil {
			return historysync.Archive{}, fmt.Errorf("export %s: %w", a, err)
		}
		if len(ranges) > 0 {
			return a, nil
		}
	}
	return historysync.Archive{}, fmt.Errorf("the database holds no archive of %s", j)
}

// exported converts a stored message to its JSON line.
func exported(a historysync.Archive, m historysync.Message) exportedMessage {
	e := exportedMessage{
		Archive:   a.String(),
		ArchiveID: m.ArchiveID,
		Pos:       m.Pos,
		Time:      m.Time,
		From:      m.From,
		To:        m.To,
		Type:      string(m.Type),
		ID:        m.ID,
		OriginID:  m.OriginID,
		Body:      m.Body,
		Aliases:   m.Aliases,
		Live:      m.Live,
		Raw:       string(m.Raw),
	}
	if m.Omitted != 0 {
		e.Omitted = m.Omitted.String()
	}
	return e
}
