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

// ClauseSummaries give each clause of the catalogue in one line (from
// policy-requirements.md; the schools' own documents are the authority), for the
// dashboard and the block page. "OSS-2" is the parent of OSS-2.1 to OSS-2.4.
var ClauseSummaries = map[string]string{
	"SPT-1":   "A personal device is any mobile or tablet with a camera; LA, Health Authority and approved-contractor devices are not covered; governors may use theirs in meetings only.",
	"SPT-2":   "Observed misuse must be reported immediately to the DSL or Deputy DSL.",
	"SPT-3":   "No personal-device use 08:30–15:30 except in the staffroom, SLT offices, own vehicle or off site; exceptions only with SLT permission given before use.",
	"SPT-4":   "An emergency medical call from a classroom is allowed if all lines are busy, and is recorded with the incident.",
	"SPT-5":   "An off-site visit lead or deputy may keep a device on, recorded in the risk assessment.",
	"SPT-6":   "Never photograph pupils on personal devices.",
	"SPT-7":   "Personal devices needed to support individuals or split classes go to SLT for immediate discussion.",
	"SPT-8":   "No calls or texts to pupils or parents from personal devices.",
	"SPT-9":   "Calls to parents are logged; none from personal devices.",
	"SPT-10":  "Work mobiles are for work only, subject to security, audit and monitoring, and never used by children or family.",
	"SPT-11":  "Staff devices need a PIN or passcode, apps only from known stores, no data outside the firewall.",
	"SPT-12":  "No personal messaging apps or social media for work.",
	"SPT-13":  "Pupils are discouraged from bringing devices; any brought stay in bags, switched off, in class, building and grounds.",
	"SPT-14":  "The policy is monitored and reviewed by the headteacher and trustees.",
	"OSS-1":   "Covers phones, tablets, e-readers, games consoles and wearables that communicate or record, for pupils, staff, governors, contractors, visitors and volunteers.",
	"OSS-2":   "Devices that reach the internet without the school's web filter are restricted by who carries them.",
	"OSS-2.1": "Pupils' unfiltered devices may not go beyond the main reception area; lockers are in the admin office.",
	"OSS-2.2": "Staff working with children may not have such devices in areas shared with pupils while pupils are on site.",
	"OSS-2.3": "Staff not working with children may not use them in teaching areas while pupils are on site; offices and the car park only.",
	"OSS-2.4": "No abusive messages; alerts and ringtones not audible.",
	"OSS-3":   "School devices are passcode-protected and used with permission; users are told activity may be monitored for safeguarding.",
	"OSS-4":   "Staff devices stay in the staff-room locker from the start of contracted hours until all pupils have left; no use in teaching periods without written permission.",
	"OSS-5":   "Learners do not use devices on site except with consent and approval; devices must not be taken into exams (reported to the exam board).",
	"OSS-6":   "Visitors keep devices locked, never let a pupil use them, and agree multi-agency use with the headteacher beforehand.",
	"OSS-7":   "The policy is reviewed at least yearly, with internet use monitored and issues fed into action planning.",
	"OSS-8":   "Breaches are reported, debriefed and escalated through the school's safeguarding procedures, in confidence.",
}
