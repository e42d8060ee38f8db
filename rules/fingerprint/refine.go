package fingerprint

import "fmt"

// RefineMargin is how much more confident a new, different conclusion must be
// than the one held before it replaces it.
const RefineMargin = 0.2

// Refine classifies s and reconciles the result with prev, the profile the
// caller held for the same device, so that a device's kind and OS do not flap
// between readings. The rule, for Kind (with Confidence) and OS (with
// OSConfidence) separately:
//
//   - prev unknown (or empty): the new conclusion is taken.
//   - new unknown: prev is kept (a reading with less evidence, e.g. a DHCP
//     renewal without a host name, does not erase what was known).
//   - same label: kept, with the higher of the two confidences.
//   - different label: taken only when its confidence is at least prev's plus
//     RefineMargin; otherwise prev is kept and a "hysteresis" evidence item
//     says what was overruled.
//
// When the kind changes from one known kind to another, the OS comes with it (a phone's OS on a games
// console would be nonsense). Because a switch needs RefineMargin more
// confidence than the held conclusion and the held confidence never drops
// while the label stays, a device's kind can change at most 1/RefineMargin
// times whatever the readings: two alternating weak readings never flip it,
// and strong contrary evidence (a host name "Nintendo-Switch" after
// "unknown", or after a weak guess) does. Vendor and RandomizedMAC follow the
// new reading (Vendor falls back to prev's when the new one has none);
// Evidence is the new reading's, plus the hysteresis note.
func Refine(prev Profile, s Signals) Profile { return refine(prev, Classify(s)) }

func known(label string) bool { return label != "" && label != "unknown" }

func refine(prev, next Profile) Profile {
	out := next
	if out.Vendor == "" {
		out.Vendor = prev.Vendor
	}
	kindSwitched := false
	switch {
	case !known(prev.Kind):
	case !known(next.Kind):
		out.Kind, out.Confidence = prev.Kind, prev.Confidence
	case next.Kind == prev.Kind:
		out.Confidence = max(prev.Confidence, next.Confidence)
	case next.Confidence >= prev.Confidence+RefineMargin:
		kindSwitched = true
	default:
		out.Kind, out.Confidence = prev.Kind, prev.Confidence
		out.Evidence = append(out.Evidence, Evidence{Signal: "hysteresis",
			Value:    fmt.Sprintf("kept %s (%.2f) over %s (%.2f)", prev.Kind, prev.Confidence, next.Kind, next.Confidence),
			Suggests: "kind=" + prev.Kind, Weight: prev.Confidence})
	}
	if kindSwitched {
		return out // the OS comes with the new kind (from one known kind to another)
	}
	switch {
	case !known(prev.OS):
	case !known(next.OS):
		out.OS, out.OSConfidence = prev.OS, prev.OSConfidence
	case next.OS == prev.OS:
		out.OSConfidence = max(prev.OSConfidence, next.OSConfidence)
	case next.OSConfidence >= prev.OSConfidence+RefineMargin:
	default:
		out.OS, out.OSConfidence = prev.OS, prev.OSConfidence
		out.Evidence = append(out.Evidence, Evidence{Signal: "hysteresis",
			Value:    fmt.Sprintf("kept %s (%.2f) over %s (%.2f)", prev.OS, prev.OSConfidence, next.OS, next.OSConfidence),
			Suggests: "os=" + prev.OS, Weight: prev.OSConfidence})
	}
	return out
}
