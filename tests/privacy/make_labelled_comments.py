# How the labelled set was written (kept for the record; the .jsonl file is the data).
"""Write tests/privacy/labelled_comments.jsonl: comments with their personal-data spans.

Frames and values come in two disjoint pools; the tuning half uses pool A and the
held-apart half pool B, so no frame or value of the held-apart half was seen while tuning.
"""
import json
import random
import re
from pathlib import Path

OUT = Path(__file__).with_name("labelled_comments.jsonl")
rng = random.Random(20261201)

VALUES = {
    "A": {
        "name": ["Dolores Umbridge-Klein", "Maria Lopez", "Dr Patel", "Keisha Washington",
                 "Nurse Joy Adeyemi", "Tomás Herrera", "Mrs O'Connor", "Priya Raman",
                 "Kevin McAllister", "Ana Beatriz Souza", "Mr Nguyen", "Rahul Mehta",
                 "Yolanda Price", "Samantha", "Darnell Jones", "Jennifer"],
        "email": ["jane.doe at gmail.com", "jane dot doe at gmail dot com", "jane＠example.org",
                  "maria.lopez%40yahoo.com", "tomh(at)outlook(dot)com", "k.wash@hotmail.com",
                  "rahul [at] mehta [dot] in", "ａｎａ＠ｅｘａｍｐｌｅ．ｏｒｇ"],
        "phone": ["020 7946 0958", "07700 900123", "+44 20 7946 0958", "(555) 201-3344",
                  "+33 1 42 68 53 00", "+49 30 901820", "+91 98765 43210", "555.867.5309",
                  "+61 2 9374 4000", "0412 345 678"],
        "national_id": ["123-45-6789", "QQ 12 34 56 C", "SSN 078051120", "123.456.789-09",
                        "AB123456C"],
        "date_of_birth": ["03/14/1985", "1985-03-14", "14 March 1979", "born 7/2/1961",
                          "DOB 12.05.1990"],
        "address": ["1417 Cedar Street Apt 3", "221B Baker Street", "45 oak street",
                    "12 rue de la Paix", "Flat 2, 15 Mill Road", "PO Box 771",
                    "Hauptstraße 5", "350 5th Ave"],
        "participant_id": ["P-f380a4166b2efea1", "P-1A2B3C4D", "p-9e107d9d372bb682",
                           "P-0A1B2C3D"],
    },
    "B": {
        "name": ["Gregory Hastings-Brown", "Lucia Fernandez", "Dr Okonkwo", "Shanice Robinson",
                 "Pastor Williams", "Jorge Ramirez", "Ms Kowalski", "Deepa Krishnan",
                 "Brendan O'Sullivan", "Fatima Al-Sayed", "Mrs Tran", "Miguel Angel Torres",
                 "Heather Collins", "Veronica", "Terrence Walker", "Amanda"],
        "email": ["bob.smith at yahoo.com", "lucia dot f at hotmail dot com",
                  "greg＠mailbox.org", "shanice.r%40gmail.com", "jorge(at)ramirez(dot)net",
                  "d.krishnan@gmail.co.in", "fatima [at] example [dot] org",
                  "ｔｅｒｒｙ＠ｅｘａｍｐｌｅ．ｃｏｍ", "brendan_os at gmail"],
        "phone": ["0161 496 0123", "07911 123456", "+44 161 496 0000", "(312) 555-0147",
                  "01 45 67 89 10", "030 12345678", "+55 11 98765-4321", "202-555-0183",
                  "(02) 9876 5432", "+52 55 1234 5678", "98765 43210"],
        "national_id": ["219-09-9999", "JG 10 37 72 A", "social security number 536 22 8743",
                        "987.654.321-00", "NI number AB 12 34 56 D"],
        "date_of_birth": ["07/04/1972", "1990-11-23", "March 3rd, 1968", "d.o.b. 21/09/1988",
                          "born on 5 June 1955"],
        "address": ["88 Maple Avenue", "10 Downing Street", "742 Evergreen Terrace",
                    "5 avenue Foch", "Apt 4B, 300 W 57th St", "P.O. Box 1123",
                    "Lindenweg 12", "Calle Mayor 12", "19 willow lane"],
        "participant_id": ["P-0cc175b9c0f1b6a8", "P-92EB5FFE", "P 4a8a08f09d37b737",
                           "P-E4DA3B7F"],
    },
}

FRAMES = {
    "A": [
        "{name} at the front desk was so kind, she remembered my kids.",
        "Please call me back at {phone}, I never heard about my housing form.",
        "You can email me at {email} if you need more information.",
        "I live at {address} and nobody came for the home visit.",
        "My participant id is {participant_id} in case you need to find my answers.",
        "They asked for my SSN {national_id} at the door, why do they need that?",
        "My date of birth is {date_of_birth}, the form kept saying it was wrong.",
        "{name} helped me fill out the food stamp forms in Spanish.",
        "Text {phone} or write to {email}, either is fine.",
        "The home visit was at {address}, {name} was late but very nice.",
        "I was born {date_of_birth} and they still put me in the wrong age group.",
        "Ask for {name}, she knows my situation.",
        "My son's number is {phone}, he translates for me.",
        "Send the letter to {address} please.",
        "I am {participant_id} and I already filled this out last year.",
        "Case worker {name} never returned my calls.",
        "Write to me: {email}",
        "id {national_id}, dob {date_of_birth}, I hope that helps.",
        "Thank you {name}!!",
        "{name} and {name} at the clinic were wonderful to my mother.",
    ],
    "B": [
        "I want to thank {name} who drove me to my appointment.",
        "Reach me on {phone} after 5pm, I work days.",
        "My email is {email}, I never got the survey link.",
        "We moved to {address} last month so the bus is far now.",
        "Code {participant_id}, sorry if I did this twice.",
        "Why did the intake ask my {national_id}? I felt uncomfortable.",
        "I put {date_of_birth} as my birthday but the system changed it.",
        "The nurse, {name}, explained my medicines very clearly.",
        "Call {phone} or email {email}, thanks.",
        "{name} came to {address} to check on my dad.",
        "Please update my record, {date_of_birth} is my date of birth.",
        "Nobody but {name} listened to me.",
        "If I am not home my daughter answers at {phone}.",
        "Mail goes to {address} now.",
        "Participant {participant_id} here, the questions were too long.",
        "I complained to {name} twice and nothing changed.",
        "Contact: {email}",
        "My {national_id} and my birth date {date_of_birth} were on the printout I got.",
        "Big thanks to {name}.",
        "{name} from the shelter and {name} from the clinic finally talked to each other.",
    ],
}

CLEAN = {
    "A": [
        "The clinic on Monday was packed and I waited 3 hours.",
        "I came on 2025-03-04 and again the next week, both times helpful.",
        "Rated it 3 of 5, the staff were rushed.",
        "The 2024-2025 program was better than last year.",
        "Harbor County Care Network connected me with the food bank.",
        "Grace Church and the Salvation Army gave us blankets.",
        "I hope they keep the evening hours, it works for my schedule.",
        "Will they call me back? May be next week.",
        "The bus 42 takes 45 minutes from downtown.",
        "St Mary's Hospital sent me to the Jordan Valley Clinic.",
        "Medicaid covered it after 2 months of paperwork.",
        "My kids are 4, 7 and 12 and the play area was great.",
        "We got 20% off the utility bill thanks to the program.",
        "I called 911 once and the community health worker followed up.",
        "Spanish interpreters were there on Tuesday and Thursday.",
        "The YMCA in Lincoln Park runs the senior lunch.",
        "Mesa Valley Health Ecosystem staff explained everything.",
        "I went to room 204 on the second floor.",
        "It cost $1,250.00 and insurance paid half.",
        "Open 9-5 Monday to Friday, closed on Christmas.",
        "The Red Cross and United Way helped after the flood in 2023.",
        "Visited on March 3 and again on April 10.",
        "Waited from 10:30 to 12:15 for a 15 minute visit.",
        "Version 2.3 of the app keeps crashing on my phone.",
        "Dr. appointments are hard to get, the wait is 6 weeks.",
    ],
    "B": [
        "The food pantry on Wednesday ran out of milk again.",
        "My visit on 2025-02-17 was quick and friendly.",
        "I give it 4 out of 5 because the forms were long.",
        "In 2023-2024 nobody called me back, this year was better.",
        "Lakeshore Care Collaborative set up a ride to the clinic.",
        "Faith Community Church lets the program use its hall.",
        "Grace and patience are what the staff showed us.",
        "Mark my words, the new referral system works.",
        "Route 9 bus is late every day by 10 or 15 minutes.",
        "Kaiser Permanente and the county shelter finally share records.",
        "Medicare Part B confusion took 3 calls to sort out.",
        "Three of my 5 children go to the after school club.",
        "About 30 people were in line at 8am.",
        "Took the 7:45 train and got there by 9.",
        "Vietnamese and Somali speakers had nobody to help them.",
        "The Boys and Girls Club on Main is a safe place.",
        "Prairie Hills Community Alliance did a great job.",
        "Suite 300 was hard to find without a sign.",
        "The deposit was $500 and they helped with half.",
        "They are open Saturday mornings now, 8 to noon.",
        "Goodwill gave me work clothes for the interview.",
        "Came back on June 12 for the follow up.",
        "The call lasted 25 minutes and solved everything.",
        "Form 1040 help in February was very useful.",
        "Virginia Beach office said to call Richmond instead.",
    ],
}


def fill(frame: str, pool: dict[str, list[str]]) -> tuple[str, list[dict]]:
    text, spans, pos = "", [], 0
    for m in re.finditer(r"\{(\w+)\}", frame):
        text += frame[pos:m.start()]
        kind = m.group(1)
        value = rng.choice(pool[kind])
        # a frame asking for an SSN gets a number, not the word "SSN" twice
        if kind == "national_id" and value.lower().startswith(("ssn", "social", "ni number")):
            value = value.split()[-1] if "number" not in value else value
        if kind == "date_of_birth" and re.search(r"(born|birth|dob)\W*(on\W*)?$", text, re.I):
            value = re.sub(r"^(born on |born |DOB |d\.o\.b\. )", "", value)
        start = len(text)
        text += value
        span_start = start
        for label in ("born on ", "born ", "DOB ", "d.o.b. ", "SSN ", "social security number ",
                      "NI number "):
            if value.startswith(label):
                span_start = start + len(label)
        if kind == "name" and value.split()[0] in ("Dr", "Mr", "Mrs", "Ms", "Nurse",
                                                      "Pastor"):
            span_start = start + len(value.split()[0]) + 1
        spans.append({"start": span_start, "end": len(text), "kind": kind,
                      "text": text[span_start:]})
        pos = m.end()
    text += frame[pos:]
    return text, spans


rows = []
for split, pool_id in (("tune", "A"), ("held_out", "B")):
    pool = VALUES[pool_id]
    for _ in range(6):
        for frame in FRAMES[pool_id]:
            text, spans = fill(frame, pool)
            rows.append({"split": split, "text": text, "spans": spans})
    for text in CLEAN[pool_id]:
        rows.append({"split": split, "text": text, "spans": []})
seen, unique = set(), []
for row in rows:
    if row["text"] not in seen:
        seen.add(row["text"])
        unique.append(row)
with open(OUT, "w", encoding="utf-8") as f:
    for i, row in enumerate(unique):
        f.write(json.dumps({"id": i + 1, **row}, ensure_ascii=False) + "\n")
print(len(unique), sum(r["split"] == "held_out" for r in unique))

# Hand-written held-apart comments, added after tuning and scored without changes.
EXTRA = [
    ("my worker is carlos mendoza and he is great", [("carlos mendoza", "name")]),
    ("Thanks to Bernadette in the pharmacy for her patience.", [("Bernadette", "name")]),
    ("Grace Okafor called me twice to check in.", [("Grace Okafor", "name")]),
    ("The social worker (Ms. Feldman) was very professional.", [("Feldman", "name")]),
    ("Dr. Chen explained the results in plain words.", [("Chen", "name")]),
    ("My name is Rosalind Achterberg, please contact me.", [("Rosalind Achterberg", "name")]),
    ("call me 0 7 7 0 0 9 0 0 1 2 3 anytime", [("0 7 7 0 0 9 0 0 1 2 3", "phone")]),
    ("whatsapp +234 803 123 4567 is best", [("+234 803 123 4567", "phone")]),
    ("My cell: 415 555 0132.", [("415 555 0132", "phone")]),
    ("Phone (0)20 7946 0321 in London", [("20 7946 0321", "phone")]),
    ("email: sam_lee99 AT protonmail DOT com", [("sam_lee99 AT protonmail DOT com", "email")]),
    ("write to sam%2Elee%40example%2Eorg", [("sam%2Elee%40example%2Eorg", "email")]),
    ("I'm at ruth.k@ gmail .com", [("ruth.k@ gmail .com", "email")]),
    ("born 1957, so the stairs are hard", [("born 1957", "date_of_birth")]),
    ("dob: 4/17/82", [("4/17/82", "date_of_birth")]),
    ("My birthday is 17 August 1949.", [("17 August 1949", "date_of_birth")]),
    ("I live on 2200 Sunset Boulevard #12, LA", [("2200 Sunset Boulevard #12", "address")]),
    ("we are at 9 Acacia Crescent, Leeds LS6 2AB", [("9 Acacia Crescent", "address"),
                                                      ("LS6 2AB", "address")]),
    ("Rua Augusta 1500, São Paulo", [("Rua Augusta 1500", "address")]),
    ("my SSN is 512 44 9876", [("512 44 9876", "national_id")]),
    ("Medicaid ID 9876543210A on file", [("9876543210A", "national_id")]),
    ("participant P-5D41402A, second survey", [("P-5D41402A", "participant_id")]),
    ("my code is 7b52009b64fd0a2a", [("7b52009b64fd0a2a", "participant_id")]),
    ("We went on Friday and it was fine.", []),
    ("My daughter is 12 and my son 9.", []),
    ("The 3 of us waited 40 minutes.", []),
    ("Call center hours 8-6 are too short.", []),
    ("Got 2 bags of groceries and a $25 gift card.", []),
    ("Jackson County Health Department was closed.", []),
    ("The Carter Center program ended in 2024.", []),
    ("Christian Brothers school let us use the gym.", []),
    ("Hope Street clinic is easier to reach by bus.", []),
    ("Rating: 5/5, would recommend to my neighbors.", []),
    ("From 2019 to 2024 I came every month.", []),
    ("The form asked for income for 2023-24.", []),
    ("Thank you so much, God bless.", []),
]
with open(OUT, "a", encoding="utf-8") as f:
    for j, (text, parts) in enumerate(EXTRA):
        spans = []
        for part, kind in parts:
            start = text.index(part)
            spans.append({"start": start, "end": start + len(part), "kind": kind, "text": part})
        f.write(json.dumps({"id": len(unique) + j + 1, "split": "held_out", "text": text,
                            "spans": spans}, ensure_ascii=False) + "\n")
print(len(unique) + len(EXTRA))
