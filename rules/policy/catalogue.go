package policy

import "slices"

// Clauses is the clause catalogue of policy-requirements.md: the only IDs a rule may cite.
var Clauses = []string{
	"SPT-1", "SPT-2", "SPT-3", "SPT-4", "SPT-5", "SPT-6", "SPT-7", "SPT-8", "SPT-9",
	"SPT-10", "SPT-11", "SPT-12", "SPT-13", "SPT-14",
	"OSS-1", "OSS-2.1", "OSS-2.2", "OSS-2.3", "OSS-2.4", "OSS-3", "OSS-4", "OSS-5",
	"OSS-6", "OSS-7", "OSS-8",
}

// ZoneTypes are the types a zone may have. "unknown" is what ZoneFor returns when no
// zone matches; rules may name it, zones may not have it.
var ZoneTypes = []string{
	"reception", "staffroom", "slt-office", "office", "meeting-room", "car-park",
	"teaching", "pupil-area", "exam-room", "guest", "unknown",
}

// Roles are the roles a device may have. Rules may also name "unknown", which matches
// a device whose role is not known (Input.Role == "").
var Roles = []string{
	"pupil", "staff-direct", "staff-office", "slt", "governor", "visitor", "contractor",
	"volunteer", "key-personnel", "external-agency",
}

// Kinds are the device kinds the fingerprint classifier reports.
var Kinds = []string{
	"phone", "tablet", "laptop", "desktop", "smartwatch", "fitness-tracker", "games-console",
	"e-reader", "tv-media", "printer", "iot", "network", "unknown",
}

// Severities, lowest first.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// ExemptionReasons are the reasons an exemption may be granted for.
// off-site-visit is SPT-5 (visit lead/deputy), individual-support SPT-7 (supporting
// individuals, split classes).
var ExemptionReasons = []string{"medical", "curriculum", "multi-agency-visit", "emergency", "off-site-visit", "individual-support", "other"}

// ModeKinds are the kinds of time-boxed mode a school may declare.
var ModeKinds = []string{ModeExam, ModeLockdown, ModeEmergency}

// Mode kinds.
const (
	ModeExam      = "exam"      // any personal device in the exam zones is a critical breach (OSS-5)
	ModeLockdown  = "lockdown"  // staff keep their devices everywhere: safety overrides SPT-3
	ModeEmergency = "emergency" // adults may use devices to call for help (SPT-4)
)

// Recipients are who a rule may ask to be told of a breach at once (SPT-2: the DSL or
// deputy; OSS-6: the DSL or headteacher; OSS-5: the exams officer, for the exam board).
var Recipients = []string{"dsl", "deputy-dsl", "headteacher", "slt", "exams-officer", "network-admin"}

// Actions a rule may take.
var Actions = []string{ActionAllow, ActionAlert, ActionBlock}

// Unknown is the zone type, role and kind of what is not known.
const Unknown = "unknown"

// IsClause reports whether id is in the clause catalogue.
func IsClause(id string) bool { return slices.Contains(Clauses, id) }

// IsZoneType reports whether t is a zone type (including "unknown").
func IsZoneType(t string) bool { return slices.Contains(ZoneTypes, t) }

// IsRole reports whether r is a role (not including "unknown").
func IsRole(r string) bool { return slices.Contains(Roles, r) }

// IsKind reports whether k is a device kind (including "unknown").
func IsKind(k string) bool { return slices.Contains(Kinds, k) }

// ClauseSummaries paraphrase each clause of the catalogue in a sentence a pupil,
// a parent or a DSL can read (from policy-requirements.md; the schools' own
// documents are the authority).
var ClauseSummaries = map[string]string{
	"SPT-1":   "A personal device is any mobile or tablet with a camera; governors use theirs only in meetings, not where children are present.",
	"SPT-2":   "Misuse of a device is reported to the Designated Safeguarding Lead at once.",
	"SPT-3":   "Staff and visitors do not use personal devices from 08:30 to 15:30 except in the staffroom, SLT offices or their own vehicle.",
	"SPT-4":   "A member of staff may make an emergency medical call from a classroom if every line is busy; it is recorded.",
	"SPT-5":   "The lead and deputy on an off-site visit may keep a device on; it is recorded in the risk assessment.",
	"SPT-6":   "Pupils are never photographed on personal devices.",
	"SPT-7":   "Personal devices needed to support individuals are discussed with SLT first.",
	"SPT-8":   "Staff do not call or text pupils or parents from personal devices.",
	"SPT-9":   "Calls to parents are logged.",
	"SPT-10":  "Work devices are for work, secured, audited and monitored, and used only on networks that meet the policy.",
	"SPT-11":  "Work devices have a passcode and apps only from known stores.",
	"SPT-12":  "No personal messaging apps or social media for work.",
	"SPT-13":  "Pupils' devices stay switched off in their bags in class, in the building and in the grounds.",
	"SPT-14":  "The headteacher and trustees monitor and review this policy.",
	"OSS-1":   "The policy covers phones, tablets, e-readers, games consoles and wearables that communicate or record.",
	"OSS-2.1": "Devices that reach the internet without the school's web filter may not go beyond the main reception area.",
	"OSS-2.2": "Staff working with children keep their devices out of any area shared with pupils while pupils are on site.",
	"OSS-2.3": "Staff not working with children do not use devices in teaching areas while pupils are on site.",
	"OSS-2.4": "No abusive messages; alerts and ringtones are not audible.",
	"OSS-3":   "School devices are passcode-protected and used with permission; activity may be monitored for safeguarding.",
	"OSS-4":   "Staff devices stay in the staff-room locker while pupils are on site, unless leadership agreed otherwise in writing.",
	"OSS-5":   "Learners do not use devices on site; devices must not be taken into exams, and possession is reported to the exam board.",
	"OSS-6":   "Visitors keep devices locked and never let a pupil use them; agreed multi-agency use is documented.",
	"OSS-7":   "The school reviews the policy at least yearly and monitors internet use on school systems.",
	"OSS-8":   "Breaches are reported, handled confidentially and escalated for serious incidents.",
}
