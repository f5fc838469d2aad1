"""Write a LimeSurvey survey structure file (``.lss``) for an instrument.

The layout follows the ``.lss`` that a LimeSurvey 6.14 server imported in the recorded
fixtures (``tests/limesurvey/fixtures/evalkit_site_evaluation.lss``): DBVersion 498 tables
``answers``, ``answer_l10ns``, ``groups``, ``group_l10ns``, ``questions``, ``subquestions``,
``question_l10ns``, ``question_attributes``, ``surveys``, ``surveys_languagesettings``, every
value in CDATA. Ids in the file are placeholders; the server renumbers them on import.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from evalkit.instruments import Instrument
from evalkit.sources._mapping import QuestionMap, relevance

__all__ = ["build_lss"]

_THEME = {"F": "arrays/array", "L": "listradio", "M": "multiplechoice", "N": "numerical",
          "T": "longfreetext", "D": "date"}
_QUESTION_FIELDS = ("qid", "parent_qid", "sid", "gid", "type", "title", "preg", "other",
                    "mandatory", "question_order", "scale_id", "same_default", "relevance",
                    "modulename", "encrypted", "question_theme_name", "same_script")
_SURVEY_FIELDS = (
    "sid", "gsid", "admin", "expires", "startdate", "adminemail", "anonymized", "format",
    "savetimings", "template", "language", "additional_languages", "datestamp", "usecookie",
    "allowregister", "allowsave", "autonumber_start", "autoredirect", "allowprev",
    "printanswers", "ipaddr", "refurl", "showsurveypolicynotice", "publicstatistics",
    "publicgraphs", "listpublic", "htmlemail", "sendconfirmation", "tokenanswerspersistence",
    "assessments", "usecaptcha", "usetokens", "bounce_email", "attributedescriptions",
    "emailresponseto", "emailnotificationto", "tokenlength", "showxquestions",
    "showgroupinfo", "shownoanswer", "showqnumcode", "showwelcome", "showprogress",
    "questionindex", "navigationdelay", "nokeyboard", "alloweditaftercompletion",
    "ipanonymize")
_PLACEHOLDER_SID = 100000


def _cdata(value: object) -> str:
    text = "" if value is None else str(value)
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _table(name: str, fields: Sequence[str], rows: Sequence[Mapping[str, object]]) -> str:
    out = [f" <{name}>", "  <fields>"]
    out += [f"   <fieldname>{f}</fieldname>" for f in fields]
    out += ["  </fields>", "  <rows>"]
    for row in rows:
        out.append("   <row>")
        out += [f"    <{f}>{_cdata(row.get(f))}</{f}>" for f in fields]
        out.append("   </row>")
    out += ["  </rows>", f" </{name}>"]
    return "\n".join(out)


def build_lss(
    instrument: Instrument,
    questions: Sequence[QuestionMap],
    *,
    title: str,
    anonymized: bool,
    language: str = "en",
    labels: Mapping[str, str] | None = None,
    admin_email: str = "",
) -> bytes:
    """The ``.lss`` file (UTF-8 bytes) of an instrument laid out by ``plan_questions``.

    Parameters
    ----------
    instrument
        The instrument; its item texts, scale labels, ranges and skip conditions are used.
    questions
        The plan from :func:`~evalkit.sources.plan_questions` (recorded after import).
    title
        Survey title shown to respondents.
    anonymized
        Keep responses unlinked from participants; the server then also replaces dates.
    language
        Survey language code.
    labels
        Display texts for rating-grid rows and site choices (id -> name).
    admin_email
        Survey administrator email (LimeSurvey's bounce and notification address).

    Examples
    --------
    >>> from evalkit._assets import asset_path
    >>> from evalkit.instruments import load_instrument
    >>> from evalkit.sources import plan_questions
    >>> sfb = load_instrument(asset_path("surveys") / "learning_session_feedback.yaml")
    >>> lss = build_lss(sfb, plan_questions(sfb), title="Session feedback", anonymized=False)
    >>> lss.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    True
    """
    labels = labels or {}
    sid, gid = _PLACEHOLDER_SID, 1
    questions_rows: list[dict[str, object]] = []
    sub_rows: list[dict[str, object]] = []
    q_l10n: list[dict[str, object]] = []
    attrs: list[dict[str, object]] = []
    answers: list[dict[str, object]] = []
    a_l10n: list[dict[str, object]] = []
    next_qid = 1
    sub_qids: list[tuple[QuestionMap, int]] = []

    def question_text(q: QuestionMap) -> tuple[str, str]:
        if q.role == "site":
            return "Which site or organization is this survey about?", "Choose one."
        if q.item is not None:
            item = instrument.item(q.item)
            return item.text, ""
        first = instrument.item(next(iter(q.subquestions.values())).split("[")[0])
        if first.type == "rating_grid":
            return first.text, "Leave a row blank if you do not know the organization."
        scale = first.response_scale or ""
        return "How much do you agree with each statement?", f"Scale: {scale}"

    def mandatory(q: QuestionMap) -> str:
        if q.role == "site":
            return "Y"
        if q.item is not None:
            return "Y" if instrument.item(q.item).required else "N"
        return "N"

    for order, q in enumerate(questions):
        qid = next_qid
        next_qid += 1
        rel = relevance(instrument, q.item, questions) if q.item else "1"
        questions_rows.append({
            "qid": qid, "parent_qid": 0, "sid": sid, "gid": gid, "type": q.type,
            "title": q.code, "preg": "", "other": "N", "mandatory": mandatory(q),
            "question_order": order, "scale_id": 0, "same_default": 0, "relevance": rel,
            "modulename": "", "encrypted": "N", "question_theme_name": _THEME[q.type],
            "same_script": 0})
        text, help_text = question_text(q)
        q_l10n.append({"qid": qid, "question": text, "help": help_text,
                       "language": language, "script": ""})
        sub_qids.append((q, qid))
        choices: list[tuple[str, str, float]] = []
        if q.role == "site":
            choices = [(c, labels.get(s, s), 0) for c, s in q.sites.items()]
        elif q.answers:
            item_code = (q.item or next(iter(q.subquestions.values()))).split("[")[0]
            codes = instrument.answer_codes(item_code) or {}
            choices = [(c, codes.get(int(v), str(v)), v) for c, v in q.answers.items()]
        for sort, (code, label, value) in enumerate(choices):
            aid = len(answers) + 1
            answers.append({"aid": aid, "qid": qid, "code": code, "sortorder": sort,
                            "assessment_value": int(value), "scale_id": 0})
            a_l10n.append({"id": aid, "aid": aid, "answer": label, "language": language})
        if q.type == "N" and q.item:
            item = instrument.item(q.item)
            for name, bound in (("min_num_value_n", item.min), ("max_num_value_n", item.max)):
                if bound is not None:
                    attrs.append({"qid": qid, "attribute": name, "value": f"{bound:g}",
                                  "language": ""})
        if q.type == "D":
            attrs.append({"qid": qid, "attribute": "date_format", "value": "yyyy-mm-dd",
                          "language": language})
    for q, parent in sub_qids:
        for order, (sq, stored) in enumerate(q.subquestions.items()):
            qid = next_qid
            next_qid += 1
            sub_rows.append({
                "qid": qid, "parent_qid": parent, "sid": sid, "gid": gid, "type": q.type,
                "title": sq, "preg": "", "other": "N", "mandatory": "N",
                "question_order": order, "scale_id": 0, "same_default": 0, "relevance": "1",
                "modulename": "", "encrypted": "N", "question_theme_name": _THEME[q.type],
                "same_script": 0})
            base, _, inner = stored.partition("[")
            inner = inner.rstrip("]")
            if instrument.item(base).type == "rating_grid":
                text = labels.get(inner, inner)
            elif instrument.item(base).type == "multiple":
                text = (instrument.item(base).options or {}).get(int(inner), inner)
            else:
                text = instrument.item(stored).text
            q_l10n.append({"qid": qid, "question": text, "help": "", "language": language,
                           "script": ""})
    for i, row in enumerate(q_l10n, start=1):
        row["id"] = i
    survey: dict[str, object] = {f: "" for f in _SURVEY_FIELDS}
    survey.update({
        "sid": sid, "gsid": 1, "admin": "Evaluation team", "adminemail": admin_email,
        "anonymized": "Y" if anonymized else "N", "format": "G", "savetimings": "N",
        "template": "fruity_twentythree", "language": language, "datestamp":
        "N" if anonymized else "Y", "usecookie": "N", "allowregister": "N", "allowsave": "Y",
        "autonumber_start": 0, "autoredirect": "N", "allowprev": "Y", "printanswers": "N",
        "ipaddr": "N", "refurl": "N", "showsurveypolicynotice": 0, "publicstatistics": "N",
        "publicgraphs": "N", "listpublic": "N", "htmlemail": "Y", "sendconfirmation": "N",
        "tokenanswerspersistence": "N", "assessments": "N", "usecaptcha": "N",
        "usetokens": "N", "bounce_email": admin_email, "tokenlength": 15,
        "showxquestions": "Y", "showgroupinfo": "B", "shownoanswer": "Y", "showqnumcode": "X",
        "showwelcome": "Y", "showprogress": "Y", "questionindex": 0, "navigationdelay": 0,
        "nokeyboard": "N", "alloweditaftercompletion": "N", "ipanonymize":
        "Y" if anonymized else "N"})
    description = (instrument.description or "").strip()
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>', "<document>",
        " <LimeSurveyDocType>Survey</LimeSurveyDocType>", " <DBVersion>498</DBVersion>",
        " <languages>", f"  <language>{escape(language)}</language>", " </languages>",
        _table("answers", ("aid", "qid", "code", "sortorder", "assessment_value", "scale_id"),
               answers),
        _table("answer_l10ns", ("id", "aid", "answer", "language"), a_l10n),
        _table("groups", ("gid", "sid", "group_order", "randomization_group", "grelevance"),
               [{"gid": gid, "sid": sid, "group_order": 0, "randomization_group": "",
                 "grelevance": "1"}]),
        _table("group_l10ns", ("id", "gid", "group_name", "description", "language", "sid",
                               "group_order", "randomization_group", "grelevance"),
               [{"id": 1, "gid": gid, "group_name": instrument.title,
                 "description": description, "language": language, "sid": sid,
                 "group_order": 0, "randomization_group": "", "grelevance": "1"}]),
        _table("questions", _QUESTION_FIELDS, questions_rows),
        _table("subquestions", _QUESTION_FIELDS, sub_rows),
        _table("question_l10ns", ("id", "qid", "question", "help", "language", "script"),
               q_l10n),
        _table("question_attributes", ("qid", "attribute", "value", "language"), attrs),
        _table("surveys", _SURVEY_FIELDS, [survey]),
        _table("surveys_languagesettings", (
            "surveyls_survey_id", "surveyls_language", "surveyls_title",
            "surveyls_description", "surveyls_welcometext", "surveyls_endtext", "surveyls_url",
            "surveyls_urldescription", "surveyls_dateformat", "surveyls_numberformat"),
            [{"surveyls_survey_id": sid, "surveyls_language": language,
              "surveyls_title": title, "surveyls_description": description,
              "surveyls_welcometext": "Thank you for taking part.",
              "surveyls_endtext": "Thank you!", "surveyls_url": "",
              "surveyls_urldescription": "", "surveyls_dateformat": 6,
              "surveyls_numberformat": 0}]),
        "</document>", ""]
    return "\n".join(parts).encode("utf-8")
