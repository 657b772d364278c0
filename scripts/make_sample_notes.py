"""Generate the synthetic clinical note corpus used for NoteWatt demos and tests.

Every note is fictional: patients are identified only by synthetic IDs
(e.g. "P0007") and the clinicians' names are obvious placeholders. No real
patient data is used or derived from.

Each note is built from one structured record, and its gold abstraction comes
from the same record, so the two always agree. Output is deterministic (fixed
seed), so regenerating gives byte-identical files:

    python scripts/make_sample_notes.py [--out-dir data]

Writes <out-dir>/sample_notes/notes.jsonl and <out-dir>/sample_notes_gold.jsonl.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

SEED = 20250121
N_PATIENTS = 20
NOTE_TYPE_COUNTS = {
    "discharge_summary": 7,
    "progress_note": 7,
    "ed_note": 7,
    "op_note": 7,
    "clinic_letter": 8,
}
DEFAULT_OUT_DIR = Path(__file__).resolve().parent.parent / "data"
DOSELESS_PROB = 0.2  # chance a medication is written without its dose

Med = tuple[str, str]  # (generic name, dose as written; "" when not stated)
Allergy = tuple[str, str]  # (allergen, reaction; "" when not stated)


@dataclass(frozen=True)
class Scenario:
    """The encounter-specific part of a note.

    `text` holds prose fragments keyed by the sections a note type uses; they
    may contain {age} {man} {he} {He} {his} {His} {him} placeholders and must
    not name any problem, medication or procedure missing from the fields.
    """

    problems: tuple[str, ...]
    procedures: tuple[str, ...]
    meds: tuple[Med, ...]
    text: dict[str, str]
    min_age: int = 0
    excludes: tuple[str, ...] = ()  # chronic conditions that make the scenario implausible

    def suits(self, patient: Patient) -> bool:
        return patient.age >= self.min_age and not set(self.excludes) & set(patient.conditions)


@dataclass(frozen=True)
class Patient:
    patient_id: str
    age: int
    sex: str  # "F" or "M"
    conditions: tuple[str, ...]
    meds: tuple[Med, ...]
    allergies: tuple[Allergy, ...]
    smoking: str  # "current", "former" or "never"
    social: str


@dataclass(frozen=True)
class Note:
    """Everything a note's text and its gold abstraction are rendered from."""

    note_id: str
    note_type: str
    patient: Patient
    encounter_date: date
    scenario: Scenario
    author: str
    recipient: str
    history: tuple[str, ...]  # chronic conditions the note mentions
    home_meds: tuple[Med, ...]
    new_meds: tuple[Med, ...]
    nkda_phrase: str
    smoking_status: str  # "unknown" when the note does not say
    smoking_phrase: str
    vitals: str
    day_number: int  # hospital day (progress note) or length of stay (discharge)


# --------------------------------------------------------------------------- pools

# Chronic condition -> medication options (name, possible doses); one is chosen per patient.
CHRONIC_CONDITIONS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "type 2 diabetes mellitus": (
        ("metformin", ("500 mg twice daily", "1000 mg twice daily")),
        ("glipizide", ("5 mg daily",)),
    ),
    "hypertension": (
        ("lisinopril", ("10 mg daily", "20 mg daily")),
        ("amlodipine", ("5 mg daily", "10 mg daily")),
        ("hydrochlorothiazide", ("25 mg daily",)),
    ),
    "hyperlipidemia": (
        ("atorvastatin", ("20 mg at bedtime", "40 mg at bedtime")),
        ("simvastatin", ("20 mg daily",)),
    ),
    "atrial fibrillation": (
        ("apixaban", ("5 mg twice daily",)),
        ("metoprolol", ("25 mg twice daily", "50 mg twice daily")),
    ),
    "chronic obstructive pulmonary disease": (("tiotropium", ("18 mcg inhaled once daily",)),),
    "asthma": (
        ("albuterol", ("90 mcg inhaler, 2 puffs every 4 hours as needed",)),
        ("budesonide-formoterol", ("160/4.5 mcg, 2 puffs twice daily",)),
    ),
    "hypothyroidism": (("levothyroxine", ("50 mcg daily", "75 mcg daily", "100 mcg daily")),),
    "gastroesophageal reflux disease": (("omeprazole", ("20 mg daily", "40 mg daily")),),
    "major depressive disorder": (
        ("sertraline", ("50 mg daily", "100 mg daily")),
        ("escitalopram", ("10 mg daily",)),
    ),
    "gout": (("allopurinol", ("100 mg daily", "300 mg daily")),),
    "heart failure with reduced ejection fraction": (
        ("furosemide", ("20 mg daily", "40 mg daily")),
        ("carvedilol", ("6.25 mg twice daily", "12.5 mg twice daily")),
    ),
    "coronary artery disease": (
        ("aspirin", ("81 mg daily",)),
    ),
    "chronic kidney disease stage 3": (),
    "obesity": (),
}
CONDITION_COUNT_CHOICES = (0, 1, 1, 2, 2, 3, 3, 4)

ALLERGY_POOL: tuple[Allergy, ...] = (
    ("penicillin", "rash"),
    ("sulfa", "hives"),
    ("codeine", "nausea and vomiting"),
    ("latex", "contact dermatitis"),
    ("shellfish", "anaphylaxis"),
    ("iodinated contrast", "hives"),
    ("morphine", "itching"),
    ("peanuts", ""),
)
NKDA_PHRASES = ("No known drug allergies.", "NKDA.", "None known.")

SMOKING_PHRASES = {
    "current": (
        "current smoker, 1 pack per day",
        "current smoker, half a pack per day",
        "smokes about 10 cigarettes daily",
    ),
    "former": (
        "quit smoking in 2010",
        "former smoker, quit in 2016 after a 20 pack-year history",
        "ex-smoker, stopped in 2005",
    ),
    "never": ("never smoked", "lifelong nonsmoker", "has never used tobacco"),
}

SOCIAL_PHRASES = (
    "Lives with {his} spouse. Drinks 1-2 glasses of wine per week.",
    "Lives alone in a ground-floor apartment. No alcohol use.",
    "Works as an accountant. Occasional alcohol.",
    "Retired electrician, lives with {his} daughter.",
    "Works as a bus driver. Denies alcohol or drug use.",
    "Retired teacher, independent with daily activities.",
)

AUTHORS = ("Dr. Alex Sample", "Dr. Jordan Example", "Dr. Casey Placeholder", "Dr. Morgan Testcase")
REFERRERS = ("Dr. Riley Mockingham", "Dr. Taylor Fictus", "Dr. Quinn Dummyfield")
HOSPITAL = "Synthetic General Hospital"

INPATIENT_SCENARIOS = (
    Scenario(
        problems=("community-acquired pneumonia",),
        procedures=("chest x-ray",),
        meds=(("doxycycline", "100 mg twice daily for 5 days"),),
        text={
            "complaint": "Cough and shortness of breath.",
            "hpi": "presented with four days of productive cough, fevers to 38.9 C and worsening "
            "shortness of breath. Oxygen saturation was 89% on room air at triage.",
            "course": "Imaging showed right lower lobe consolidation. {He} was started on intravenous "
            "antibiotics and supplemental oxygen, weaned to room air by hospital day 3. Blood cultures "
            "remained negative. {He} was switched to oral therapy once afebrile for 48 hours.",
            "exam": "Crackles at the right base. No accessory muscle use.",
            "update": "Cough is improving and {he} slept well. No fevers in the last 24 hours.",
            "plan": "Continue antibiotics, wean oxygen to keep saturation above 92%, encourage deep "
            "breathing exercises and ambulation.",
            "instructions": "Complete the antibiotic course. Return for worsening breathlessness or fever.",
        },
    ),
    Scenario(
        problems=("acute decompensated heart failure",),
        min_age=50,
        procedures=("echocardiogram", "chest x-ray"),
        meds=(("furosemide", "40 mg twice daily"),),
        text={
            "complaint": "Leg swelling and breathlessness lying flat.",
            "hpi": "presented with two weeks of progressive leg swelling, orthopnea requiring three "
            "pillows and a weight gain of 5 kg.",
            "course": "Imaging showed bilateral pleural effusions and pulmonary vascular congestion, and "
            "ejection fraction was estimated at 30%. {He} was diuresed with intravenous diuretics to a "
            "net negative balance of 6 liters and returned to dry weight. Renal function remained stable.",
            "exam": "Jugular venous pressure 10 cm. Bibasilar crackles. 2+ pitting edema to the knees.",
            "update": "Breathing is easier and {he} was able to lie flat overnight. Urine output 2.4 liters.",
            "plan": "Continue diuresis with daily weights, strict intake and output, and a 2 g sodium "
            "diet. Monitor electrolytes daily.",
            "instructions": "Weigh daily and call the clinic for a gain of more than 2 kg in 3 days. "
            "Limit salt and fluid intake.",
        },
    ),
    Scenario(
        problems=("cellulitis of the left lower leg",),
        procedures=("venous duplex ultrasound",),
        meds=(("doxycycline", "100 mg twice daily for 7 days"),),
        text={
            "complaint": "Red, painful left leg.",
            "hpi": "presented with three days of spreading redness, warmth and pain of the left shin "
            "after a minor scrape while gardening.",
            "course": "Deep vein thrombosis was excluded. {He} received intravenous antibiotics with "
            "steady regression of erythema from the marked borders and resolution of fever. The leg "
            "was elevated and {he} mobilized independently before discharge.",
            "exam": "Warm, tender erythema of the left anterior shin, receding from the marked border. "
            "No fluctuance.",
            "update": "Pain is less and the redness has receded from yesterday's line. Afebrile overnight.",
            "plan": "Continue antibiotics, keep the leg elevated, and review the marked border daily.",
            "instructions": "Keep the leg elevated when sitting. Return if redness spreads or fever recurs.",
        },
    ),
    Scenario(
        problems=("acute pancreatitis",),
        procedures=("CT abdomen and pelvis", "abdominal ultrasound"),
        meds=(("ondansetron", "4 mg every 8 hours as needed for nausea"),),
        text={
            "complaint": "Epigastric pain and vomiting.",
            "hpi": "presented with one day of severe epigastric pain radiating to the back with repeated "
            "vomiting. Lipase was more than ten times the upper limit of normal.",
            "course": "Imaging showed peripancreatic inflammation without necrosis and no gallstones. "
            "{He} was managed with bowel rest, intravenous fluids and analgesia. Diet was advanced "
            "slowly and tolerated by hospital day 4.",
            "exam": "Epigastric tenderness with voluntary guarding. Bowel sounds present.",
            "update": "Pain is down to 3 out of 10. Tolerated clear liquids this morning.",
            "plan": "Advance to a low-fat diet as tolerated, reduce intravenous fluids, and trend "
            "laboratory results.",
            "instructions": "Avoid alcohol. Eat small low-fat meals. Return for recurrent pain or vomiting.",
        },
    ),
    Scenario(
        problems=("non-ST elevation myocardial infarction",),
        min_age=45,
        procedures=("electrocardiogram", "cardiac catheterization", "percutaneous coronary intervention"),
        meds=(
            ("aspirin", "81 mg daily"),
            ("ticagrelor", "90 mg twice daily"),
            ("atorvastatin", "80 mg at bedtime"),
        ),
        text={
            "complaint": "Chest pressure.",
            "hpi": "presented with two hours of substernal chest pressure radiating to the left arm with "
            "sweating. Troponin was elevated and rising, with lateral ST depression.",
            "course": "{He} was treated with anticoagulation and antiplatelet therapy. Angiography "
            "showed a 90% stenosis of the proximal circumflex artery, treated with one drug-eluting "
            "stent. {He} remained pain free and was seen by cardiac rehabilitation.",
            "exam": "Regular rhythm, no murmurs. Right radial access site clean without hematoma.",
            "update": "No further chest pain. Walked the hallway twice without symptoms.",
            "plan": "Continue dual antiplatelet therapy and high-intensity statin, telemetry, and "
            "arrange cardiac rehabilitation.",
            "instructions": "Do not stop antiplatelet medicines without speaking to cardiology. No heavy "
            "lifting with the right arm for one week.",
        },
    ),
    Scenario(
        problems=("acute pyelonephritis",),
        procedures=("renal ultrasound",),
        meds=(("ciprofloxacin", "500 mg twice daily for 7 days"),),
        text={
            "complaint": "Fever and right flank pain.",
            "hpi": "presented with two days of fever, rigors, dysuria and right flank pain. Urinalysis "
            "showed pyuria and nitrites.",
            "course": "Imaging showed no hydronephrosis or obstruction. {He} was treated with intravenous "
            "antibiotics and fluids, defervesced within 48 hours and was switched to an oral agent "
            "guided by urine culture sensitivities.",
            "exam": "Right costovertebral angle tenderness. Abdomen soft.",
            "update": "Flank pain is improving and {he} has been afebrile for 24 hours.",
            "plan": "Follow urine culture, switch to oral antibiotics when afebrile for 24 hours, and "
            "encourage oral fluids.",
            "instructions": "Complete the antibiotic course and drink plenty of fluids. Return for fever "
            "or vomiting.",
        },
    ),
    Scenario(
        problems=("upper gastrointestinal bleeding", "duodenal ulcer"),
        procedures=("esophagogastroduodenoscopy", "blood transfusion"),
        meds=(("omeprazole", "40 mg twice daily"),),
        text={
            "complaint": "Black stools and lightheadedness.",
            "hpi": "presented with two days of black tarry stools and lightheadedness on standing. "
            "Hemoglobin was 7.1 g/dL on arrival.",
            "course": "{He} received two units of packed red cells. Endoscopy showed a clean-based ulcer "
            "in the duodenal bulb without active bleeding. {He} was started on high-dose acid "
            "suppression and hemoglobin remained stable for 48 hours. Biopsies are pending.",
            "exam": "Mild pallor. Abdomen soft and non-tender.",
            "update": "No further black stools since yesterday. Lightheadedness has resolved.",
            "plan": "Continue acid suppression, check hemoglobin twice daily, and advance diet.",
            "instructions": "Avoid anti-inflammatory painkillers. Return immediately for black stools, "
            "vomiting blood or fainting.",
        },
    ),
)

ED_SCENARIOS = (
    Scenario(
        problems=("atypical chest pain",),
        procedures=("electrocardiogram", "chest x-ray"),
        meds=(),
        text={
            "complaint": "Chest pain.",
            "hpi": "presents with two days of intermittent sharp left-sided chest discomfort, worse with "
            "deep breathing and pressing on the chest wall, lasting seconds. No exertional component, "
            "no sweating, no leg swelling.",
            "exam": "Reproducible tenderness over the left costochondral junction. Heart regular, lungs clear.",
            "course": "Electrocardiogram showed normal sinus rhythm without ischemic changes. Chest x-ray "
            "was clear. Two high-sensitivity troponins were negative.",
            "plan": "Likely chest wall pain. Simple analgesia and follow up with primary care within one "
            "week; return for exertional pain, breathlessness or fainting.",
        },
    ),
    Scenario(
        problems=("right ankle sprain",),
        excludes=("heart failure with reduced ejection fraction", "chronic kidney disease stage 3"),
        procedures=("right ankle x-ray",),
        meds=(("ibuprofen", "400 mg every 6 hours as needed"),),
        text={
            "complaint": "Right ankle injury.",
            "hpi": "rolled {his} right ankle stepping off a curb this afternoon. Able to bear weight with "
            "pain. Did not hit {his} head and has no other injuries.",
            "exam": "Swelling and tenderness over the anterior talofibular ligament. No bony tenderness "
            "at the malleoli or fifth metatarsal base. Neurovascularly intact.",
            "course": "Right ankle x-ray showed no fracture. Compression bandage applied and crutches "
            "provided.",
            "plan": "Rest, ice, compression and elevation; weight bear as tolerated. See primary care if "
            "not improving in 2 weeks.",
        },
    ),
    Scenario(
        problems=("nephrolithiasis",),
        procedures=("CT abdomen and pelvis",),
        meds=(
            ("tamsulosin", "0.4 mg daily for 14 days"),
            ("ondansetron", "4 mg every 8 hours as needed"),
        ),
        text={
            "complaint": "Left flank pain.",
            "hpi": "presents with sudden colicky left flank pain radiating to the groin since 4 a.m., "
            "with nausea and one episode of vomiting. Urine dipstick positive for blood.",
            "exam": "Uncomfortable, unable to lie still. Left costovertebral angle tenderness. Abdomen soft.",
            "course": "CT abdomen and pelvis without contrast showed a 4 mm stone at the left "
            "ureterovesical junction with mild hydronephrosis. Pain settled with intravenous "
            "analgesia and fluids.",
            "plan": "Strain urine, maintain oral fluids, urology follow-up in 2 weeks. Return for fever "
            "or uncontrolled pain.",
        },
    ),
    Scenario(
        problems=("migraine without aura",),
        excludes=("coronary artery disease",),
        procedures=(),
        meds=(("sumatriptan", "50 mg at onset, may repeat once after 2 hours"),),
        text={
            "complaint": "Headache.",
            "hpi": "reports a throbbing right-sided headache for 10 hours with nausea and light "
            "sensitivity, similar to previous episodes but more severe. No fever, neck stiffness, "
            "weakness or visual loss.",
            "exam": "Alert and oriented. Cranial nerves intact, no focal deficit, normal gait. No neck "
            "stiffness.",
            "course": "Headache improved after intravenous fluids, an antiemetic and simple analgesia. "
            "Neurologic examination remained normal; imaging was not indicated.",
            "plan": "Headache diary, avoid analgesic overuse, and discuss prevention with primary care. "
            "Return for sudden severe headache or new neurologic symptoms.",
        },
    ),
    Scenario(
        problems=("laceration of the left forearm",),
        procedures=("laceration repair",),
        meds=(),
        text={
            "complaint": "Cut to left forearm.",
            "hpi": "cut {his} left forearm on broken glass while washing dishes 2 hours ago. Bleeding "
            "controlled with pressure. Tetanus immunization is up to date.",
            "exam": "4 cm linear laceration of the volar left forearm, no tendon exposure. Full finger "
            "flexion and extension, sensation intact, radial pulse normal.",
            "course": "Wound irrigated and explored; no foreign body. Laceration repair with six simple "
            "interrupted 4-0 nylon sutures under local anesthesia.",
            "plan": "Keep the wound clean and dry for 48 hours. Suture removal in 10 days. Return for "
            "redness, discharge or fever.",
        },
    ),
    Scenario(
        problems=("vasovagal syncope",),
        procedures=("electrocardiogram", "CT head"),
        meds=(),
        text={
            "complaint": "Passed out.",
            "hpi": "had a brief loss of consciousness while standing in a hot, crowded queue, preceded "
            "by nausea, warmth and tunnel vision. Witnesses describe recovery within 30 seconds without "
            "confusion. Struck the back of {his} head on the floor.",
            "exam": "Orthostatic vital signs normal. Small occipital swelling. Normal neurologic "
            "examination. Heart regular without murmur.",
            "course": "Electrocardiogram showed sinus rhythm with normal intervals. CT head showed no "
            "acute intracranial abnormality. Observed for 4 hours without recurrence.",
            "plan": "Advised on hydration and recognizing warning symptoms. Return for recurrent "
            "episodes, fainting on exertion or a racing heartbeat.",
        },
    ),
    Scenario(
        problems=("acute gastroenteritis", "dehydration"),
        procedures=(),
        meds=(("ondansetron", "4 mg every 8 hours as needed"),),
        text={
            "complaint": "Vomiting and diarrhea.",
            "hpi": "reports 2 days of watery diarrhea and vomiting, with several household members "
            "similarly unwell. Unable to keep fluids down since this morning. No blood in the stool.",
            "exam": "Dry mucous membranes, reduced skin turgor. Abdomen soft with mild diffuse "
            "tenderness, no guarding.",
            "course": "Received 2 liters of intravenous fluid with clinical improvement. Passed an oral "
            "fluid challenge.",
            "plan": "Oral rehydration with small frequent sips and hand hygiene. Return for persistent "
            "vomiting, bloody stool or confusion.",
        },
    ),
)

OP_SCENARIOS = (
    Scenario(
        problems=("symptomatic cholelithiasis",),
        procedures=("laparoscopic cholecystectomy", "intraoperative cholangiogram"),
        meds=(("acetaminophen", "1000 mg every 8 hours"), ("ibuprofen", "400 mg every 6 hours as needed")),
        text={
            "indication": "has had recurrent right upper quadrant pain after meals for four months, "
            "with gallstones on imaging.",
            "anesthesia": "General endotracheal.",
            "description": "Pneumoperitoneum was established at the umbilicus with an open technique and "
            "three further ports placed. The critical view of safety was achieved. Cholangiography "
            "showed free flow into the duodenum without filling defects. The cystic duct and artery "
            "were clipped and divided, and the gallbladder was dissected from the liver bed and "
            "removed in a bag.",
            "findings": "Thick-walled gallbladder containing multiple stones. Normal cholangiogram.",
            "ebl": "15 mL.",
            "specimens": "Gallbladder to pathology.",
            "plan": "Advance diet as tolerated, ambulate tonight, anticipate same-day discharge.",
        },
    ),
    Scenario(
        problems=("acute appendicitis",),
        procedures=("laparoscopic appendectomy",),
        meds=(("acetaminophen", "1000 mg every 8 hours"),),
        text={
            "indication": "presented with 24 hours of periumbilical pain migrating to the right lower "
            "quadrant, fever and a raised white cell count, with imaging consistent with appendicitis.",
            "anesthesia": "General endotracheal.",
            "description": "Three ports were placed. The appendix was inflamed but not perforated. The "
            "mesoappendix was divided with an energy device and the appendiceal base stapled. The "
            "specimen was removed in a retrieval bag and the right lower quadrant irrigated.",
            "findings": "Acutely inflamed, non-perforated appendix. No abscess.",
            "ebl": "10 mL.",
            "specimens": "Appendix to pathology.",
            "plan": "Diet as tolerated; discharge home in the morning if eating and pain controlled.",
        },
    ),
    Scenario(
        problems=("osteoarthritis of the right knee",),
        min_age=55,
        procedures=("right total knee arthroplasty",),
        meds=(
            ("enoxaparin", "40 mg subcutaneously daily for 14 days"),
            ("acetaminophen", "1000 mg every 8 hours"),
        ),
        text={
            "indication": "has end-stage right knee pain limiting walking to one block despite "
            "physiotherapy, injections and weight loss, with bone-on-bone changes on radiographs.",
            "anesthesia": "Spinal anesthesia with adductor canal block.",
            "description": "Under tourniquet, a medial parapatellar arthrotomy was performed. Femoral and "
            "tibial cuts were made with standard instrumentation, the knee was balanced in flexion and "
            "extension, and cemented components were implanted. The patella was resurfaced and the "
            "wound closed in layers.",
            "findings": "Severe tricompartmental degenerative change with full-thickness cartilage loss.",
            "ebl": "150 mL.",
            "specimens": "None.",
            "plan": "Weight bearing as tolerated with physiotherapy from day 0. Thromboprophylaxis as below.",
        },
    ),
    Scenario(
        problems=("left inguinal hernia",),
        procedures=("open left inguinal hernia repair with mesh",),
        meds=(("acetaminophen", "1000 mg every 8 hours as needed"), ("ibuprofen", "400 mg every 8 hours as needed")),
        text={
            "indication": "has an enlarging, intermittently painful, reducible left groin bulge for one year.",
            "anesthesia": "General anesthesia via laryngeal mask airway with local infiltration.",
            "description": "A left groin incision was made and the external oblique aponeurosis opened. "
            "An indirect sac was dissected off the cord and reduced. A lightweight polypropylene mesh "
            "was sutured to the inguinal ligament and conjoint tendon, and the wound closed in layers.",
            "findings": "Moderate indirect hernia containing omentum.",
            "ebl": "5 mL.",
            "specimens": "None.",
            "plan": "Discharge home today. No heavy lifting for 4 weeks.",
        },
    ),
    Scenario(
        problems=("right carpal tunnel syndrome",),
        procedures=("right open carpal tunnel release",),
        meds=(),
        text={
            "indication": "has eight months of numbness in the right thumb, index and middle fingers "
            "with night waking, not improved with night splinting, with positive Phalen and Tinel signs.",
            "anesthesia": "Local anesthesia with sedation.",
            "description": "Under tourniquet control a longitudinal palmar incision was made. The "
            "transverse carpal ligament was fully divided under direct vision, decompressing the "
            "median nerve. The skin was closed with interrupted sutures and a soft dressing applied.",
            "findings": "Thickened transverse carpal ligament; flattened, hyperemic median nerve.",
            "ebl": "Minimal.",
            "specimens": "None.",
            "plan": "Elevate the hand, early finger motion, suture removal in 12 days. Simple "
            "over-the-counter analgesia as needed.",
        },
    ),
    Scenario(
        problems=("left femoral neck fracture",),
        min_age=65,
        procedures=("left hip hemiarthroplasty",),
        meds=(
            ("enoxaparin", "40 mg subcutaneously daily for 28 days"),
            ("acetaminophen", "1000 mg every 6 hours"),
        ),
        text={
            "indication": "fell at home and could not bear weight; radiographs showed a displaced "
            "subcapital fracture.",
            "anesthesia": "Spinal anesthesia.",
            "description": "Through a posterior approach the short external rotators and capsule were "
            "incised. The femoral head was removed and sized, the canal prepared, and a cemented "
            "bipolar prosthesis implanted. The hip was stable through a full range of motion. The "
            "capsule and rotators were repaired and the wound closed.",
            "findings": "Displaced subcapital fracture. Femoral head 46 mm.",
            "ebl": "250 mL.",
            "specimens": "Femoral head to pathology.",
            "plan": "Weight bearing as tolerated with posterior hip precautions. Check hemoglobin tomorrow.",
        },
    ),
    Scenario(
        problems=("right medial meniscus tear",),
        procedures=("right knee arthroscopy", "partial medial meniscectomy"),
        meds=(("ibuprofen", "400 mg every 8 hours as needed with food"),),
        text={
            "indication": "has three months of locking and medial joint line pain in the right knee after "
            "a twisting injury playing football.",
            "anesthesia": "General anesthesia via laryngeal mask airway.",
            "description": "Standard anterolateral and anteromedial portals were established and a "
            "diagnostic survey performed. The torn posterior horn of the medial meniscus was trimmed "
            "to a stable rim with a shaver and basket forceps. The knee was irrigated and the portals "
            "closed.",
            "findings": "Complex posterior horn tear. Articular cartilage and cruciate ligaments intact.",
            "ebl": "Minimal.",
            "specimens": "None.",
            "plan": "Weight bearing as tolerated, home exercise program, clinic review in 2 weeks.",
        },
    ),
)

LETTER_SCENARIOS = (
    Scenario(
        problems=("palpitations", "atrial ectopic beats"),
        procedures=("electrocardiogram", "24-hour Holter monitor"),
        meds=(),
        text={
            "specialty": "Cardiology",
            "reason": "palpitations",
            "history": "{He} describes brief episodes of a fluttering heartbeat several times a week, "
            "usually at rest in the evening and lasting under a minute, without chest pain or fainting. "
            "{He} drinks about four cups of coffee a day.",
            "exam": "the pulse was regular at 72 per minute, blood pressure 128/80, and heart sounds "
            "were normal.",
            "investigations": "An electrocardiogram today showed sinus rhythm with normal intervals, and "
            "the 24-hour Holter monitor showed isolated atrial ectopic beats matching {his} symptoms, "
            "with no sustained arrhythmia.",
            "plan": "I have reassured {him} that these beats are benign and suggested cutting down on "
            "caffeine. I have not arranged follow-up but would be happy to see {him} again.",
        },
    ),
    Scenario(
        problems=("chronic cough", "postnasal drip syndrome"),
        procedures=("spirometry",),
        meds=(("fluticasone", "50 mcg nasal spray, 2 sprays each nostril daily"),),
        text={
            "specialty": "Respiratory",
            "reason": "a persistent cough",
            "history": "{He} reports a dry cough for four months, worse at night and on waking, with "
            "frequent throat clearing and a feeling of mucus at the back of the throat. There has been "
            "no weight loss or fever.",
            "exam": "the chest was clear with no wheeze and there was cobblestoning of the posterior pharynx.",
            "investigations": "Spirometry in clinic was normal, with no obstructive pattern.",
            "plan": "I have also advised saline nasal rinses and will review {him} in eight weeks if the "
            "cough persists.",
        },
    ),
    Scenario(
        problems=("iron deficiency anemia",),
        procedures=("upper endoscopy", "colonoscopy"),
        meds=(("ferrous sulfate", "325 mg daily"),),
        text={
            "specialty": "Gastroenterology",
            "reason": "iron deficiency",
            "history": "{He} reports three months of fatigue, with no visible bleeding, change in bowel "
            "habit or weight loss. Hemoglobin was 10.2 g/dL with a low ferritin.",
            "exam": "there was conjunctival pallor; the abdomen was soft and non-tender with no masses.",
            "investigations": "Upper endoscopy and colonoscopy last week were both unremarkable, and "
            "duodenal biopsies were normal.",
            "plan": "Please recheck a full blood count and ferritin in three months. I would be happy to "
            "see {him} again if the blood count does not correct.",
        },
    ),
    Scenario(
        problems=("obstructive sleep apnea",),
        procedures=("polysomnography",),
        meds=(),
        text={
            "specialty": "Sleep Medicine",
            "reason": "snoring and daytime sleepiness",
            "history": "{His} partner reports loud snoring and witnessed pauses in breathing. {He} has "
            "dozed off while watching television and wakes unrefreshed. Epworth score was 14.",
            "exam": "neck circumference was 43 cm and the oropharynx was crowded.",
            "investigations": "Overnight polysomnography showed an apnea-hypopnea index of 28 events per "
            "hour with oxygen desaturation to 84%.",
            "plan": "We have arranged a trial of CPAP with review in six weeks. I have advised {him} not "
            "to drive when drowsy.",
        },
    ),
    Scenario(
        problems=("left L5 radiculopathy", "L4-5 disc protrusion"),
        procedures=("MRI lumbar spine",),
        meds=(("gabapentin", "300 mg at bedtime"),),
        text={
            "specialty": "Spine",
            "reason": "left leg pain",
            "history": "{He} describes eight weeks of shooting pain from the left buttock to the top of "
            "the foot with tingling, worse on sitting. There is no bladder or bowel disturbance.",
            "exam": "straight leg raise was positive on the left at 40 degrees, with reduced sensation "
            "over the dorsum of the left foot and weak great toe extension.",
            "investigations": "MRI lumbar spine showed a left paracentral L4-5 disc protrusion contacting "
            "the traversing L5 nerve root.",
            "plan": "I have referred {him} for physiotherapy and will review {him} in six weeks.",
        },
    ),
    Scenario(
        problems=("mild cognitive impairment",),
        min_age=60,
        procedures=(),
        meds=(),
        text={
            "specialty": "Geriatric Medicine",
            "reason": "memory concerns",
            "history": "{He} and {his} family report misplacing items and repeated questions over the "
            "past year, while {he} remains independent with finances, driving and personal care.",
            "exam": "there were no focal neurological signs and gait was normal. Cognitive screening "
            "scored 24 out of 30, with deficits mainly in delayed recall.",
            "investigations": "",
            "plan": "Blood tests for reversible causes were unremarkable. I have encouraged regular "
            "exercise and social activity and will reassess {him} in twelve months.",
        },
    ),
    Scenario(
        problems=("thyroid nodule",),
        procedures=("thyroid ultrasound", "fine needle aspiration"),
        meds=(),
        text={
            "specialty": "Endocrinology",
            "reason": "a thyroid nodule",
            "history": "The nodule was found incidentally. {He} has no pressure symptoms, voice change "
            "or family history of thyroid disease.",
            "exam": "there was a smooth, mobile 2 cm nodule in the right lobe.",
            "investigations": "Thyroid ultrasound showed a 2.1 cm solid nodule in the right lobe, and "
            "fine needle aspiration today was benign. Thyroid function was normal.",
            "plan": "Given the benign cytology I recommend repeat imaging in 12 to 24 months and have "
            "discharged {him} back to your care.",
        },
    ),
)


# --------------------------------------------------------------------------- text helpers


def pronouns(patient: Patient) -> dict[str, str]:
    female = patient.sex == "F"
    he, his, him = ("she", "her", "her") if female else ("he", "his", "him")
    return {
        "age": str(patient.age),
        "man": "woman" if female else "man",
        "he": he,
        "He": he.capitalize(),
        "his": his,
        "His": his.capitalize(),
        "him": him,
    }


def fill(template: str, patient: Patient) -> str:
    return template.format(**pronouns(patient))


def sentence(text: str) -> str:
    """Capitalize the first letter and end with a full stop."""
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def join_words(items: list[str] | tuple[str, ...]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def med_text(med: Med) -> str:
    name, dose = med
    return f"{name} {dose}" if dose else name


def med_list(meds: tuple[Med, ...]) -> str:
    return "; ".join(med_text(m) for m in meds) + "." if meds else "None."


def numbered(items: list[str]) -> str:
    return "\n".join(f"{i}. {item}" for i, item in enumerate(items, 1))


def allergy_text(note: Note) -> str:
    allergies = note.patient.allergies
    if not allergies:
        return note.nkda_phrase
    return "; ".join(f"{a} ({r})" if r else a for a, r in allergies) + "."


def history_text(note: Note) -> str:
    if not note.history:
        return "No significant past medical history."
    return sentence("; ".join(note.history))


def social_text(note: Note) -> str:
    parts = [sentence(note.smoking_phrase)] if note.smoking_phrase else []
    parts.append(fill(note.patient.social, note.patient))
    return " ".join(parts)


def header(title: str, note: Note, date_label: str) -> str:
    return (
        f"{title}\n{HOSPITAL}\nPatient: {note.patient.patient_id}    "
        f"{date_label}: {note.encounter_date.isoformat()}    Author: {note.author}\n"
    )


def intro(note: Note) -> str:
    return fill("{age}-year-old {man} who", note.patient)


# --------------------------------------------------------------------------- templates


def render_discharge_summary(note: Note) -> str:
    s, p = note.scenario, note.patient
    admitted = note.encounter_date - timedelta(days=note.day_number)
    secondary = s.problems[1:]
    meds = [med_text(m) for m in note.home_meds + note.new_meds] or ["None."]
    parts = [
        header("DISCHARGE SUMMARY", note, "Discharge date"),
        f"Admission date: {admitted.isoformat()}\n",
        f"PRINCIPAL DIAGNOSIS: {sentence(s.problems[0])}",
    ]
    if secondary:
        parts.append(f"SECONDARY DIAGNOSES: {sentence('; '.join(secondary))}")
    parts += [
        f"\nHISTORY OF PRESENT ILLNESS:\n{intro(note)} {fill(s.text['hpi'], p)}",
        f"\nPAST MEDICAL HISTORY: {history_text(note)}",
        f"ALLERGIES: {allergy_text(note)}",
        f"SOCIAL HISTORY: {social_text(note)}",
        f"\nHOSPITAL COURSE:\n{fill(s.text['course'], p)}",
        f"\nPROCEDURES: {sentence('; '.join(s.procedures)) if s.procedures else 'None.'}",
        f"\nDISCHARGE MEDICATIONS:\n{numbered(meds)}",
        f"\nDISCHARGE INSTRUCTIONS: {fill(s.text['instructions'], p)} "
        "Follow up with primary care in 1-2 weeks.",
    ]
    return "\n".join(parts)


def render_progress_note(note: Note) -> str:
    s, p = note.scenario, note.patient
    chronic = [f"{c.capitalize()}: stable, continue home regimen." for c in note.history]
    parts = [
        header(f"PROGRESS NOTE - HOSPITAL DAY {note.day_number}", note, "Date"),
        f"SUBJECTIVE:\nNo acute events overnight. {fill(s.text['update'], p)}",
        f"\nOBJECTIVE:\nVitals: {note.vitals}\nGeneral: alert and oriented, no acute distress.\n"
        f"{fill(s.text['exam'], p)}",
        f"\nCURRENT MEDICATIONS: {med_list(note.home_meds + note.new_meds)}",
        f"ALLERGIES: {allergy_text(note)}",
    ]
    if note.smoking_phrase:
        parts.append(f"SOCIAL HISTORY: {sentence(note.smoking_phrase)}")
    if s.procedures:
        parts.append(f"PROCEDURES THIS ADMISSION: {sentence('; '.join(s.procedures))}")
    parts += [
        f"\nASSESSMENT AND PLAN:\n{intro(note)} was admitted with {join_words(s.problems)}, "
        "improving.",
        fill(s.text["plan"], p),
        *chronic,
        "Encourage mobilization. Full code.",
        "Disposition: anticipate discharge in 1-2 days if progress continues.",
    ]
    return "\n".join(parts)


def render_ed_note(note: Note) -> str:
    s, p = note.scenario, note.patient
    parts = [
        header("EMERGENCY DEPARTMENT NOTE", note, "Date of visit"),
        f"CHIEF COMPLAINT: {s.text['complaint']}",
        f"\nHISTORY OF PRESENT ILLNESS:\n{intro(note)} {fill(s.text['hpi'], p)}",
        f"\nPAST MEDICAL HISTORY: {history_text(note)}",
        f"MEDICATIONS: {med_list(note.home_meds)}",
        f"ALLERGIES: {allergy_text(note)}",
        f"SOCIAL HISTORY: {social_text(note)}",
        f"\nPHYSICAL EXAMINATION:\nVitals: {note.vitals}\n{fill(s.text['exam'], p)}",
        f"\nED COURSE:\n{fill(s.text['course'], p)}",
        f"\nASSESSMENT AND PLAN:\nDiagnosis: {join_words(s.problems)}. {fill(s.text['plan'], p)}",
    ]
    if note.new_meds:
        parts.append(f"Prescribed: {med_list(note.new_meds)}")
    parts.append("\nDISPOSITION: Discharged home in stable condition.")
    return "\n".join(parts)


def render_op_note(note: Note) -> str:
    s, p = note.scenario, note.patient
    parts = [
        header("OPERATIVE NOTE", note, "Date of surgery"),
        f"PREOPERATIVE DIAGNOSIS: {sentence(s.problems[0])}",
        "POSTOPERATIVE DIAGNOSIS: Same.",
        f"PROCEDURE PERFORMED: {sentence('; '.join(s.procedures))}",
        f"SURGEON: {note.author}",
        f"ANESTHESIA: {s.text['anesthesia']}",
        f"\nINDICATIONS: {intro(note)} {fill(s.text['indication'], p)}",
    ]
    if note.history:
        parts.append(f"PAST MEDICAL HISTORY: {history_text(note)}")
    parts += [
        f"ALLERGIES: {allergy_text(note)}",
        f"\nDESCRIPTION OF PROCEDURE:\n{fill(s.text['description'], p)}",
        f"\nFINDINGS: {s.text['findings']}",
        f"ESTIMATED BLOOD LOSS: {s.text['ebl']}",
        f"SPECIMENS: {s.text['specimens']}",
        "COMPLICATIONS: None.",
        f"\nPOSTOPERATIVE PLAN: {fill(s.text['plan'], p)}",
    ]
    if note.new_meds:
        parts.append(f"Medications: {med_list(note.new_meds)}")
    return "\n".join(parts)


def render_clinic_letter(note: Note) -> str:
    s, p = note.scenario, note.patient
    t = {key: fill(value, p) for key, value in s.text.items()}
    pr = pronouns(p)
    recipient_surname = note.recipient.split()[-1]
    if note.history:
        background = f"{pr['His']} past medical history includes {join_words(note.history)}."
    else:
        background = f"{pr['He']} has no significant past medical history."
    if note.home_meds:
        background += f" Current medications: {med_list(note.home_meds)}"
    if p.allergies:
        background += f" Allergies: {allergy_text(note)}"
    else:
        background += f" {pr['He']} has no known drug allergies."
    if note.smoking_phrase:
        background += f" Social history: {note.smoking_phrase}."
    body = [
        f"{HOSPITAL} - {t['specialty']} Clinic\n{note.encounter_date.isoformat()}\n",
        f"{note.recipient}\nSynthetic Family Practice\n",
        f"Re: Patient {p.patient_id}\n",
        f"Dear Dr. {recipient_surname},\n",
        f"Thank you for referring this {pr['age']}-year-old {pr['man']}, whom I saw today in the "
        f"{t['specialty'].lower()} clinic regarding {t['reason']}.\n",
        f"HISTORY: {t['history']} {background}\n",
        f"EXAMINATION: On examination, {t['exam']}\n",
        *([f"INVESTIGATIONS: {t['investigations']}\n"] if t["investigations"] else []),
        f"IMPRESSION: {sentence(join_words(s.problems))}\n",
        "PLAN: "
        + (f"I have started {join_words([med_text(m) for m in note.new_meds])}. " if note.new_meds else "")
        + f"{t['plan']}\n",
        f"Kind regards,\n\n{note.author}\nConsultant, {t['specialty']}",
    ]
    return "\n".join(body)


@dataclass(frozen=True)
class NoteTypeSpec:
    scenarios: tuple[Scenario, ...]
    render: Callable[[Note], str]
    lists_home_meds: bool
    history_prob: float  # chance the note mentions the chronic conditions
    smoking_prob: float  # chance the note states smoking status


NOTE_TYPES = {
    "discharge_summary": NoteTypeSpec(INPATIENT_SCENARIOS, render_discharge_summary, True, 1.0, 0.9),
    "progress_note": NoteTypeSpec(INPATIENT_SCENARIOS, render_progress_note, True, 1.0, 0.4),
    "ed_note": NoteTypeSpec(ED_SCENARIOS, render_ed_note, True, 1.0, 0.7),
    "op_note": NoteTypeSpec(OP_SCENARIOS, render_op_note, False, 0.5, 0.0),
    "clinic_letter": NoteTypeSpec(LETTER_SCENARIOS, render_clinic_letter, True, 1.0, 0.7),
}


# --------------------------------------------------------------------------- record building


def make_patient(rng: random.Random, number: int) -> Patient:
    names = list(CHRONIC_CONDITIONS)
    count = rng.choice(CONDITION_COUNT_CHOICES)
    conditions = sorted(rng.sample(names, count), key=names.index)
    meds = []
    for condition in conditions:
        options = CHRONIC_CONDITIONS[condition]
        if options:
            name, doses = rng.choice(options)
            meds.append((name, rng.choice(doses)))
    n_allergies = rng.choice((0, 0, 0, 1, 1, 2))
    has_copd = "chronic obstructive pulmonary disease" in conditions
    smoking_choices = ("current", "former") if has_copd else ("current", "former", "never", "never", "never")
    return Patient(
        patient_id=f"P{number:04d}",
        age=rng.randint(20 + 10 * count, 60 + 7 * count),
        sex=rng.choice("FM"),
        conditions=tuple(conditions),
        meds=tuple(meds),
        allergies=tuple(rng.sample(ALLERGY_POOL, n_allergies)),
        smoking=rng.choice(smoking_choices),
        social=rng.choice(SOCIAL_PHRASES),
    )


def maybe_drop_dose(rng: random.Random, med: Med) -> Med:
    return (med[0], "") if rng.random() < DOSELESS_PROB else med


def make_vitals(rng: random.Random) -> str:
    return (
        f"T {rng.choice((36.6, 36.8, 37.0, 37.2))} C, HR {rng.randint(64, 96)}, "
        f"BP {rng.randint(112, 148)}/{rng.randint(64, 88)}, RR {rng.randint(14, 18)}, "
        f"SpO2 {rng.randint(94, 99)}% on room air"
    )


def make_note(
    rng: random.Random, number: int, note_type: str, patient: Patient, scenario: Scenario
) -> Note:
    spec = NOTE_TYPES[note_type]
    new_names = {name for name, _ in scenario.meds}
    home = [m for m in patient.meds if m[0] not in new_names] if spec.lists_home_meds else []
    history = patient.conditions if rng.random() < spec.history_prob else ()
    states_smoking = rng.random() < spec.smoking_prob
    return Note(
        note_id=f"syn-{number:03d}",
        note_type=note_type,
        patient=patient,
        encounter_date=date(2025, 1, 10) + timedelta(days=rng.randrange(350)),
        scenario=scenario,
        author=rng.choice(AUTHORS),
        recipient=rng.choice(REFERRERS),
        history=history,
        home_meds=tuple(maybe_drop_dose(rng, m) for m in home),
        new_meds=tuple(maybe_drop_dose(rng, m) for m in scenario.meds),
        nkda_phrase=rng.choice(NKDA_PHRASES),
        smoking_status=patient.smoking if states_smoking else "unknown",
        smoking_phrase=rng.choice(SMOKING_PHRASES[patient.smoking]) if states_smoking else "",
        vitals=make_vitals(rng),
        day_number=rng.randint(2, 6),
    )


def make_notes(seed: int = SEED) -> list[Note]:
    rng = random.Random(seed)
    numbers = sorted(rng.sample(range(1, 100), N_PATIENTS))
    patients = [make_patient(rng, n) for n in numbers]

    note_types = [t for t, count in NOTE_TYPE_COUNTS.items() for _ in range(count)]
    rng.shuffle(note_types)
    # Every patient gets at least one note; the rest are spread at random.
    owners = rng.sample(patients, len(patients))
    owners += [rng.choice(patients) for _ in range(len(note_types) - len(owners))]
    # Cycle through each type's scenarios in a shuffled order so all get used.
    queues: dict[str, list[Scenario]] = {t: [] for t in NOTE_TYPES}

    notes = []
    for number, (note_type, patient) in enumerate(zip(note_types, owners), 1):
        scenario = pick_scenario(rng, queues[note_type], NOTE_TYPES[note_type].scenarios, patient)
        notes.append(make_note(rng, number, note_type, patient, scenario))
    return notes


def pick_scenario(
    rng: random.Random, queue: list[Scenario], pool: tuple[Scenario, ...], patient: Patient
) -> Scenario:
    """Take the next scenario in `queue` that suits the patient, refilling it from `pool`."""
    if not any(s.suits(patient) for s in queue):
        queue.extend(rng.sample(pool, len(pool)))
    scenario = next(s for s in queue if s.suits(patient))
    queue.remove(scenario)
    return scenario


def gold_abstraction(note: Note) -> dict:
    problems = list(dict.fromkeys(note.scenario.problems + note.history))
    return {
        "problems": problems,
        "medications": [{"name": n, "dose": d} for n, d in note.home_meds + note.new_meds],
        "procedures": list(note.scenario.procedures),
        "allergies": [a for a, _ in note.patient.allergies],
        "smoking_status": note.smoking_status,
    }


def check_consistency(text: str, gold: dict) -> None:
    """Fail loudly if the gold names anything the text does not contain."""
    lowered = text.lower()
    strings = gold["problems"] + gold["procedures"] + gold["allergies"]
    strings += [m["name"] for m in gold["medications"]] + [m["dose"] for m in gold["medications"]]
    missing = [s for s in strings if s.lower() not in lowered]
    if missing:
        raise ValueError(f"gold strings missing from note text: {missing}")
    limits = {"problems": 8, "medications": 8, "procedures": 6, "allergies": 5}
    for key, limit in limits.items():
        if len(gold[key]) > limit:
            raise ValueError(f"{key} has {len(gold[key])} items, limit {limit}")


# --------------------------------------------------------------------------- output


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR, help="default: the repo's data/")
    args = parser.parse_args()

    note_rows, gold_rows = [], []
    for note in make_notes():
        text = NOTE_TYPES[note.note_type].render(note)
        gold = gold_abstraction(note)
        check_consistency(text, gold)
        note_rows.append(
            {
                "note_id": note.note_id,
                "note_type": note.note_type,
                "patient_id": note.patient.patient_id,
                "encounter_date": note.encounter_date.isoformat(),
                "text": text,
            }
        )
        gold_rows.append({"note_id": note.note_id, "abstraction": gold})

    write_jsonl(args.out_dir / "sample_notes" / "notes.jsonl", note_rows)
    write_jsonl(args.out_dir / "sample_notes_gold.jsonl", gold_rows)
    print(f"wrote {len(note_rows)} notes to {args.out_dir}")


if __name__ == "__main__":
    main()
