package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/atmd/atmd/internal/clock"
)

// Errors.
var (
	// ErrInvalid: a message without channel, recipient or text, or with
	// an unknown channel.
	ErrInvalid = errors.New("notify: invalid message")
	// ErrGateway wraps a gateway's failure to deliver.
	ErrGateway = errors.New("notify: gateway failed")
)

// Channel is how a message travels.
type Channel string

// Channels.
const (
	Push Channel = "push" // to the banking app; To is the app user id
	SMS  Channel = "sms"  // to a phone; To is an E.164 number
)

// Valid reports whether c is Push or SMS.
func (c Channel) Valid() bool { return c == Push || c == SMS }

// Kind says what a message is for, so a reader can pick it out without
// parsing its text.
type Kind string

// Kinds.
const (
	KindCode       Kind = "code"        // a verification code
	KindDefaultPIN Kind = "default-pin" // a new card's default PIN
	KindAlert      Kind = "alert"       // a security alert (wrong code, ...)
	KindNotice     Kind = "notice"      // anything else
)

// Message is one notification.
type Message struct {
	ID      int64     // set by the Outbox: 1, 2, 3, ... in sending order
	Time    time.Time // set by the Outbox
	Channel Channel
	To      string // Push: app user id; SMS: E.164 phone number
	Kind    Kind
	Subject string // what it is about, e.g. a card id; may be empty
	Text    string // the body, as the phone shows it: may hold a code or a PIN
}

// String describes m without its text.
func (m Message) String() string {
	return fmt.Sprintf("#%d %s to %s (%s) text=***", m.ID, m.Channel, m.To, m.Kind)
}

// Format prints String for every verb, so a body never reaches a log
// through %v or %+v.
func (m Message) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, m.String()) }

// Gateway delivers messages of one channel to the outside world.
type Gateway interface {
	Deliver(ctx context.Context, m Message) error
}

// Filter selects messages; the zero Filter selects all. Every set field
// must match.
type Filter struct {
	Channel Channel
	To      string
	Kind    Kind
	Subject string
	After   int64 // only messages with a larger ID
}

// Match reports whether m passes f.
func (f Filter) Match(m Message) bool {
	return (f.Channel == "" || m.Channel == f.Channel) && (f.To == "" || m.To == f.To) &&
		(f.Kind == "" || m.Kind == f.Kind) && (f.Subject == "" || m.Subject == f.Subject) && m.ID > f.After
}

// DefaultOutboxSize is the ring size of a zero Options.
const DefaultOutboxSize = 1024

// Outbox is the in-memory ring of the latest messages. It is safe for
// concurrent use.
type Outbox struct {
	clock clock.Clock

	mu     sync.Mutex
	ring   []Message // oldest first, at most size
	size   int
	last   int64
	notify chan struct{} // closed and replaced on each new message
}

// NewOutbox returns an empty outbox keeping the latest size messages
// (DefaultOutboxSize if size < 1); c nil means the wall clock.
func NewOutbox(size int, c clock.Clock) *Outbox {
	if size < 1 {
		size = DefaultOutboxSize
	}
	if c == nil {
		c = clock.Real{}
	}
	return &Outbox{clock: c, size: size, notify: make(chan struct{})}
}

// add stamps m with the next ID and the time, keeps it and wakes the
// waiters.
func (o *Outbox) add(m Message) Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.last++
	m.ID, m.Time = o.last, o.clock.Now()
	if len(o.ring) == o.size {
		copy(o.ring, o.ring[1:])
		o.ring = o.ring[:len(o.ring)-1]
	}
	o.ring = append(o.ring, m)
	close(o.notify)
	o.notify = make(chan struct{})
	return m
}

// Messages returns the kept messages that pass f, oldest first.
func (o *Outbox) Messages(f Filter) []Message {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []Message
	for _, m := range o.ring {
		if f.Match(m) {
			out = append(out, m)
		}
	}
	return out
}

// Last returns the newest kept message that passes f.
func (o *Outbox) Last(f Filter) (Message, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.ring) - 1; i >= 0; i-- {
		if f.Match(o.ring[i]) {
			return o.ring[i], true
		}
	}
	return Message{}, false
}

// Wait returns the oldest kept message that passes f, waiting for one
// to be sent if there is none yet, until ctx ends. Use f.After to wait
// for messages newer than the last one seen.
func (o *Outbox) Wait(ctx context.Context, f Filter) (Message, error) {
	for {
		o.mu.Lock()
		ch := o.notify
		var found *Message
		for i := range o.ring {
			if f.Match(o.ring[i]) {
				m := o.ring[i]
				found = &m
				break
			}
		}
		o.mu.Unlock()
		if found != nil {
			return *found, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return Message{}, fmt.Errorf("notify: wait: %w", ctx.Err())
		}
	}
}

// LastID returns the ID of the newest message sent, 0 if none.
func (o *Outbox) LastID() int64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.last
}

// Notifier sends messages: it keeps each in its Outbox, then hands it to
// the channel's gateway if one is set.
type Notifier struct {
	outbox   *Outbox
	gateways map[Channel]Gateway
}

// Option configures a Notifier.
type Option func(*Notifier)

// WithGateway sets the gateway of channel c.
func WithGateway(c Channel, g Gateway) Option {
	return func(n *Notifier) { n.gateways[c] = g }
}

// New returns a notifier that keeps its messages in outbox (a fresh
// NewOutbox(0, nil) when nil).
func New(outbox *Outbox, opts ...Option) *Notifier {
	if outbox == nil {
		outbox = NewOutbox(0, nil)
	}
	n := &Notifier{outbox: outbox, gateways: map[Channel]Gateway{}}
	for _, o := range opts {
		o(n)
	}
	return n
}

// Outbox returns the notifier's outbox.
func (n *Notifier) Outbox() *Outbox { return n.outbox }

// Send checks m, keeps it in the outbox and delivers it through its
// channel's gateway, if any, and returns it with ID and Time set. A
// gateway failure is returned wrapping ErrGateway; the message stays in
// the outbox (it was sent as far as the host is concerned).
func (n *Notifier) Send(ctx context.Context, m Message) (Message, error) {
	if !m.Channel.Valid() || m.To == "" || m.Text == "" {
		return Message{}, fmt.Errorf("%w: channel %q, recipient and text are required", ErrInvalid, m.Channel)
	}
	if err := ctx.Err(); err != nil {
		return Message{}, fmt.Errorf("notify: %w", err)
	}
	m = n.outbox.add(m)
	if g := n.gateways[m.Channel]; g != nil {
		if err := g.Deliver(ctx, m); err != nil {
			return m, fmt.Errorf("%w: %s #%d: %w", ErrGateway, m.Channel, m.ID, err)
		}
	}
	return m, nil
}
