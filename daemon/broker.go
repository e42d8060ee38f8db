package daemon

import "sync"

// broker fans committed events out to live subscribers (the dashboard's SSE
// streams). A slow subscriber loses events rather than stalling the loop; the
// loss is counted.
type broker struct {
	mu      sync.Mutex
	next    int
	subs    map[int]chan Event
	dropped func()
}

func newBroker(dropped func()) *broker {
	return &broker{subs: map[int]chan Event{}, dropped: dropped}
}

func (b *broker) subscribe() (<-chan Event, func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.next
	b.next++
	ch := make(chan Event, 256)
	b.subs[id] = ch
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			delete(b.subs, id)
			close(ch)
		})
	}
}

func (b *broker) publish(ev Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.subs {
		select {
		case ch <- ev:
		default:
			if b.dropped != nil {
				b.dropped()
			}
		}
	}
}
