package main

import (
	"context"
	"errors"
	"fmt"

	"mellium.im/xmpp"
	"mellium.im/xmpp/disco"
	"mellium.im/xmpp/jid"
	"mellium.im/xmpp/stanza"
)

// nsMAM is the XEP-0313 feature an archive advertises in its disco#info.
const nsMAM = "urn:xmpp:mam:2"

// Causes of a failed check, wrapped by the checks' errors (errors.Is).
var (
	errNoArchive = errors.New("does not archive messages")
	errNoRoom    = errors.New("does not exist")
)

// checkAccountArchive makes sure that the server keeps an archive of the
// account's messages: its bare JID advertises XEP-0313.
func checkAccountArchive(ctx context.Context, session *xmpp.Session, account jid.JID) error {
	info, err := discoInfo(ctx, session, account)
	if err != nil {
		return fmt.Errorf("ask the server which features %s has: %w", account, err)
	}
	if !info.has(nsMAM) {
		return fmt.Errorf("the server of %s %w (no %s in its disco#info)", account, errNoArchive, nsMAM)
	}
	return nil
}

// checkRoom makes sure that room exists, is a chat room and archives its
// messages, without joining it (joining a room that does not exist would
// create it).
func checkRoom(ctx context.Context, session *xmpp.Session, room jid.JID) error {
	info, err := discoInfo(ctx, session, room)
	var se stanza.Error
	switch {
	case errors.As(err, &se) && se.Condition == stanza.ItemNotFound:
		return fmt.Errorf("room %s %w", room, errNoRoom)
	case errors.As(err, &se) && (se.Condition == stanza.RemoteServerNotFound || se.Condition == stanza.RemoteServerTimeout):
		return fmt.Errorf("room %s: its service %s %w or cannot be reached (%s)", room, room.Domain(), errNoRoom, se.Condition)
	case err != nil:
		return fmt.Errorf("ask room %s which features it has: %w", room, err)
	case !info.isChatRoom():
		return fmt.Errorf("%s is not a chat room (its disco#info has no conference identity)", room)
	case !info.has(nsMAM):
		return fmt.Errorf("room %s %w (no %s in its disco#info)", room, errNoArchive, nsMAM)
	}
	return nil
}

// features is the disco#info of an entity.
type features disco.Info

// discoInfo asks to for its identities and features.
func discoInfo(ctx context.Context, session *xmpp.Session, to jid.JID) (features, error) {
	req, release := requestContext(ctx, requestTimeout)
	info, err := disco.GetInfo(req, "", to, session)
	release()
	if err != nil && req.Err() != nil {
		err = context.Cause(req)
	}
	return features(info), err
}

// has reports whether the entity advertises feature.
func (f features) has(feature string) bool {
	for _, x := range f.Features {
		if x.Var == feature {
			return true
		}
	}
	return false
}

// isChatRoom reports whether the entity is a MUC room (identity conference/text).
func (f features) isChatRoom() bool {
	for _, id := range f.Identity {
		if id.Category == "conference" {
			return true
		}
	}
	return false
}
