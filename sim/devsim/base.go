package devsim

import (
	"sync"

	"github.com/atmd/atmd/hal"
)

// Faulty is implemented by every simulator.
type Faulty interface {
	// Inject puts the device into the fault with the given catalogue code
	// (for example "DSP-JAM", "PRN-PAPER-OUT", "CRD-OFFLINE"). An unknown
	// code is an error.
	Inject(code string) error
	// Clear removes any injected fault; the device is online again.
	Clear()
}

// status is the status holder every simulator embeds.
type status struct {
	mu sync.Mutex
	st hal.Status
}

// Status returns the last status.
func (s *status) Status() hal.Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	if s.st.Extra != nil {
		st.Extra = make(map[string]string, len(s.st.Extra))
		for k, v := range s.st.Extra {
			st.Extra[k] = v
		}
	}
	return st
}

func (s *status) set(state hal.State, fault, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.st.State, s.st.Fault, s.st.Detail = state, fault, detail
}

func (s *status) setExtra(k, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.st.Extra == nil {
		s.st.Extra = map[string]string{}
	}
	s.st.Extra[k] = v
}
