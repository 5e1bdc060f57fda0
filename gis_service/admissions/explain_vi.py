"""A run's stored explanation for one child, told in plain Vietnamese, with the same in English."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from gis_service.admissions.run_store import PassedOverColumns
from gis_service.text import metres, metres_en

FULL = frozenset({"full", "no seats"})
"""Reasons that mean the school had no seat left for the child."""

UNREACHABLE = frozenset({"not eligible"})
"""A school with no road distance from the home: the round's rule for who can be placed there."""


def _cost(value: object, unit: object, english: bool = False) -> str:
    if unit in (None, "m"):
        return metres_en(value) if english else metres(value)
    number = f"{round(value):,}" if isinstance(value, int | float) else "?"
    return f"{number if english else number.replace(',', '.')} {unit}"


def _factor(value: object) -> str:
    return f"{value:g}" if isinstance(value, int | float) else "?"


def passed_over_texts(entry: Mapping[str, Any], mechanism: str, name: str) -> tuple[str, str]:
    """Why one nearer (or higher-ranked) school did not take the child: (Vietnamese, English)."""
    why = str(entry.get("why", ""))
    cutoff: Mapping[str, Any] = entry.get("cutoff") or {}
    cost = entry.get("cost")
    if why in UNREACHABLE or (isinstance(cost, int | float) and cost < 0):
        return (
            f"{name}: không tính được quãng đường theo đường đi từ nhà đến trường này trên bản đồ "
            "đường của đợt tuyển sinh, nên con không thể được xếp vào trường này.",
            f"{name}: no road distance from your home to this school could be found on the "
            "round's road map, so your child cannot be placed there.",
        )
    vi = f"{name} (cách nhà {metres(cost)})"
    en = f"{name} ({metres_en(cost)} from home)"
    if why == "no seats":
        return f"{vi} không tuyển lớp này.", f"{en} takes no pupils in this grade."
    if why == "beyond maximum distance":
        limit = cutoff.get("max_cost")
        return (
            f"{vi} xa hơn mức tối đa {metres(limit)} của đợt này, nên con không thuộc diện "
            "được xếp vào trường này.",
            f"{en} is farther than this round's maximum of {metres_en(limit)}, so your child is "
            "not eligible for it.",
        )
    if why == "siblings kept together":
        if not cutoff.get("all_eligible", True):
            return (
                f"{vi} không nhận được tất cả anh chị em của con, nên các con được xếp chung "
                "một trường khác.",
                f"{en} cannot take all of your child's siblings, so they are placed together at "
                "another school.",
            )
        return (
            f"{vi} chỉ còn {cutoff.get('free_seats')} chỗ, không đủ để "
            f"{cutoff.get('siblings')} anh chị em học cùng trường.",
            f"{en} had only {cutoff.get('free_seats')} free seat(s), not enough for the "
            f"{cutoff.get('siblings')} siblings to study together.",
        )
    if why.startswith("not chosen"):
        if mechanism == "nearest":
            return (
                f"{vi}: xếp con vào đó hay vào trường của con thì tổng quãng đường của các trẻ "
                "như nhau; kết quả theo số bốc thăm công khai.",
                f"{en}: placing your child there or at the school given makes the same total "
                "distance for all children; the published lottery decided.",
            )
        return (
            f"{vi} không được chọn khi tối ưu quãng đường chung của tất cả các trẻ.",
            f"{en} was not chosen when the total distance of all children was minimised.",
        )
    if why == "full":
        full_vi, full_en = _full_texts(cutoff, mechanism, cost)
        return f"{vi} đã hết chỗ: {full_vi}.", f"{en} was full: {full_en}."
    return f"{vi}: {why}.", f"{en}: {why}."


def passed_over_vi(entry: Mapping[str, Any], mechanism: str, name: str) -> str:
    """Why one nearer (or higher-ranked) school was not given, as one Vietnamese sentence."""
    return passed_over_texts(entry, mechanism, name)[0]


def _full_texts(cutoff: Mapping[str, Any], mechanism: str, own_cost: object) -> tuple[str, str]:
    """The numbers that show why a full school went to others: (Vietnamese, English)."""
    if "filled_before" in cutoff:
        number = cutoff["filled_before"]
        return (
            f"trường đã đủ chỗ khi xét đến hồ sơ thứ {number} theo thứ tự nộp, trước hồ sơ của con",
            f"its last seat went to application number {number} in the order received, before "
            "yours",
        )
    if "tier" in cutoff:
        decided = cutoff.get("decided_by")
        if decided == "priority":
            return (
                "trẻ cuối cùng được nhận thuộc diện ưu tiên, được xét trước con",
                "the last child admitted there was in a priority group, considered before yours",
            )
        if decided == "lottery" or (decided is None and cutoff.get("cost") == own_cost):
            return (
                "trẻ cuối cùng được nhận có cùng mức ưu tiên với con, ở cùng khoảng cách, và có "
                f"số bốc thăm {cutoff.get('lottery')} trong lần bốc thăm công khai, đứng trước con",
                "the last child admitted there had the same priority as yours, lived at the "
                f"same distance and drew number {cutoff.get('lottery')} in the published "
                "lottery, before yours",
            )
        if decided == "distance":
            return (
                "trẻ cuối cùng được nhận có cùng mức ưu tiên với con và ở cách trường "
                f"{metres(cutoff.get('cost'))}, gần hơn con ({metres(own_cost)}); cùng mức ưu "
                "tiên thì trẻ ở gần hơn được xét trước",
                "the last child admitted there had the same priority as yours and lived "
                f"{metres_en(cutoff.get('cost'))} from it, nearer than your "
                f"{metres_en(own_cost)}; with the same priority, nearer children come first",
            )
        return (
            f"trẻ cuối cùng được nhận ở cách trường {metres(cutoff.get('cost'))}; trẻ thuộc "
            "diện ưu tiên được xét trước, cùng mức ưu tiên thì trẻ ở gần hơn được xét trước",
            f"the last child admitted there lived {metres_en(cutoff.get('cost'))} from it; "
            "priority groups come first and, with the same priority, nearer children",
        )
    if "capacity" in cutoff:
        used, capacity = cutoff.get("seats_used"), cutoff.get("capacity")
        return (
            f"đã dùng {used}/{capacity} chỗ",
            f"{used} of its {capacity} seats were taken",
        )
    if mechanism == "nearest" or "price" in cutoff:
        if cutoff.get("price") is None:
            return (
                "không thể nhường chỗ cho con mà không phải chuyển một trẻ có ưu tiên cao hơn "
                "hoặc để một trẻ khác không có chỗ",
                "a seat could not be freed for your child without moving a child of higher "
                "priority or leaving another child without a place",
            )
        unit = cutoff.get("unit")
        others = _cost(cutoff.get("others_further"), unit)
        saved = _cost(cutoff.get("you_would_save"), unit)
        others_en = _cost(cutoff.get("others_further"), unit, english=True)
        saved_en = _cost(cutoff.get("you_would_save"), unit, english=True)
        if cutoff.get("price") == 0:
            return (
                f"nhận con sẽ làm các trẻ khác cùng mức ưu tiên với con đi xa thêm {others}, "
                f"đúng bằng {saved} con được rút ngắn, nên kết quả theo số bốc thăm công khai",
                f"a seat there for your child would have sent other children with the same "
                f"priority {others_en} further, exactly the {saved_en} your child would save, "
                "so the published lottery decided",
            )
        return (
            f"nhận con sẽ làm các trẻ khác cùng mức ưu tiên với con đi xa thêm tổng cộng "
            f"{others}, nhiều hơn {saved} con được rút ngắn",
            f"a seat there for your child would have sent other children with the same "
            f"priority {others_en} further in total, more than the {saved_en} your child "
            "would save",
        )
    return "trường đã đủ chỉ tiêu", "it had no seat left"


def _names(
    items: list[str], limit: int | None = None, english: bool = False, total: int = 0
) -> str:
    """Names joined; beyond `limit` of the `total` (default: as many as named), the rest
    counted."""
    total = max(total, len(items))
    if limit is None or total <= limit:
        return ", ".join(items)
    rest = total - limit
    more = f"and {rest} more" if english else f"và {rest} trường khác"
    return ", ".join(items[:limit]) + ", " + more


BRIEF_NAMES = 3
"""Schools a brief summary names before counting the rest."""

WHY_VI: dict[str, str] = {
    "full": "hết chỗ",
    "no seats": "không tuyển lớp này",
    "not eligible": "không có đường đi trên bản đồ",
    "beyond maximum distance": "xa hơn mức tối đa của đợt",
    "siblings kept together": "không đủ chỗ cho anh chị em học cùng",
    "not chosen": "không được chọn khi tối ưu quãng đường chung",
    "not chosen (tie)": "bằng quãng đường, theo số bốc thăm",
    "not chosen (time limit)": "không được chọn khi tối ưu (hết thời gian tính)",
    "not full": "còn chỗ",
}
"""Why a school passed over did not take the child, in a few Vietnamese words (a column)."""


ORDER_VI = {
    "nearest": (
        "Đợt này xếp mọi trẻ vào trường gần nhà nhất có thể (tổng quãng đường ngắn nhất, trẻ "
        "thuộc diện ưu tiên được xếp trước), không theo thứ tự nguyện vọng."
    ),
    "constrained": (
        "Đợt này xếp mọi trẻ vào trường gần nhà nhất có thể (tổng quãng đường ngắn nhất, trẻ "
        "thuộc diện ưu tiên được xếp trước, anh chị em học cùng trường), không theo thứ tự "
        "nguyện vọng."
    ),
    "greedy": (
        "Đợt này xếp theo thứ tự nộp hồ sơ: mỗi trẻ nhận trường gần nhà nhất còn chỗ, không "
        "theo thứ tự nguyện vọng."
    ),
}
ORDER_EN = {
    "nearest": (
        "This round places every child as near home as possible (least total distance, "
        "priority groups first), not by the order of choices."
    ),
    "constrained": (
        "This round places every child as near home as possible (least total distance, "
        "priority groups first, siblings together), not by the order of choices."
    ),
    "greedy": (
        "This round placed applications in the order received, each at the nearest school "
        "with a free seat, not by the order of choices."
    ),
}


_NORM = re.compile(r"This is beyond the norm of ([\d,]+) m\.")
"""The sentence `allocation.solve` adds for a child placed beyond the distance norm (metres),
which runs stored their English reason with before they stored `beyond_norm`."""


def _beyond_norm(explanation: Mapping[str, Any]) -> int | None:
    """The distance norm (metres) the child's school is beyond, if it is."""
    limit = explanation.get("beyond_norm")
    if isinstance(limit, int):
        return limit
    found = _NORM.search(str(explanation.get("reason") or ""))
    return int(found.group(1).replace(",", "")) if found else None


def explain_vi(
    explanation: Mapping[str, Any],
    mechanism: str,
    school_names: Mapping[int, str],
    preferences: Sequence[int] = (),
    *,
    brief: bool = False,
) -> dict[str, Any]:
    """The summary and one sentence per school passed over, in Vietnamese, and the same in
    English (`summary_en`, `passed_over_en`); `text` and `text_en` are each complete alone.
    `brief` words the summaries only, naming the first BRIEF_NAMES schools of a list and
    counting the rest (a spreadsheet lists the schools passed over in a column of its own):
    no sentence per school, and `text` is the summary.

    `preferences` (the family's ranked schools, database ids) is read only for runs stored
    before explanations said how many schools the family ranked and which choice was given.
    """

    def name(school_id: object) -> str:
        found = school_names.get(school_id) if isinstance(school_id, int) else None
        return found or "một trường không còn trong danh mục"

    def name_en(school_id: object) -> str:
        found = school_names.get(school_id) if isinstance(school_id, int) else None
        return found or "a school no longer listed"

    entries: Sequence[Mapping[str, Any]] = explanation.get("passed_over") or []
    ranked_list = list(preferences)
    own = explanation.get("school_id")
    ranked = explanation.get("ranked")
    if not isinstance(ranked, int):
        ranked = len(ranked_list)
    if "choice" in explanation:
        choice = explanation.get("choice")
    else:
        choice = ranked_list.index(own) + 1 if own in ranked_list else None
    school_of: Sequence[object]
    higher: list[int]
    nearer: list[int]
    if isinstance(entries, PassedOverColumns):  # the columns a summary needs, as stored
        school_of, whys = entries.school_ids, entries.whys
        # The schools ranked higher come first in the stored order.
        higher, nearer = list(range(entries.higher)), list(range(entries.higher, len(entries)))
    else:
        entries = list(entries)
        school_of = [e.get("school_id") for e in entries]
        whys = [str(e.get("why", "")) for e in entries]
        by_rank = [
            bool(e.get("ranked", mechanism == "da" and e.get("school_id") in ranked_list))
            for e in entries
        ]
        higher = [k for k, r in enumerate(by_rank) if r]
        nearer = [k for k, r in enumerate(by_rank) if not r]
    texts = (
        []
        if brief
        else [passed_over_texts(e, mechanism, name(e.get("school_id"))) for e in entries]
    )
    for k, e in enumerate(() if brief else entries):
        if name(e.get("school_id")) != name_en(e.get("school_id")):
            texts[k] = (
                texts[k][0],
                passed_over_texts(e, mechanism, name_en(e.get("school_id")))[1],
            )
    limit = BRIEF_NAMES if brief else None

    def listed(ks: list[int], english: bool = False) -> str:
        # Only the names a sentence shows are looked up.
        named = name_en if english else name
        shown = ks if limit is None else ks[:limit]
        return _names([named(school_of[k]) for k in shown], limit, english, len(ks))

    vi: list[str] = []
    en: list[str] = []
    if own is None:
        if not entries or all(w in UNREACHABLE for w in whys):
            vi.append(
                "Con chưa được xếp vào trường nào: không tính được quãng đường theo đường đi từ "
                "nhà đến trường nào trên bản đồ đường của đợt tuyển sinh, nên con không thuộc "
                "diện được xếp trong đợt này."
            )
            en.append(
                "Not placed: no road distance from your home to any school could be found on the "
                "round's road map, so your child is not eligible in this round."
            )
        elif all(w in UNREACHABLE or w == "beyond maximum distance" for w in whys):
            limit = next(
                (e.get("cutoff") or {}).get("max_cost")
                for e in entries
                if e.get("why") == "beyond maximum distance"
            )
            vi.append(
                f"Con không thuộc diện được xếp trong đợt này: mọi trường đều xa nhà hơn mức tối "
                f"đa {metres(limit)} của đợt."
            )
            en.append(
                f"Not placed: your child is not eligible in this round, because every school is "
                f"farther from home than the round's maximum of {metres_en(limit)}."
            )
        else:
            # The schools the child could be placed at under the round's rules.
            seated = [
                k
                for k, w in enumerate(whys)
                if w not in UNREACHABLE and w != "beyond maximum distance"
            ]
            listed_vi = listed(seated)
            listed_en = listed(seated, english=True)
            if all(whys[k] in FULL for k in seated):
                vi.append(
                    "Con chưa được xếp vào trường nào trong đợt này: mọi trường con có thể được "
                    f"xếp đều đã hết chỗ ({listed_vi})."
                )
                en.append(
                    "Not placed in this round: every school your child could be placed at was "
                    f"full ({listed_en})."
                )
            else:
                vi.append(
                    "Con chưa được xếp vào trường nào trong đợt này: không trường nào con có thể "
                    f"được xếp nhận được con ({listed_vi})."
                )
                en.append(
                    "Not placed in this round: none of the schools your child could be placed "
                    f"at could take your child ({listed_en})."
                )
    else:
        where_vi = f"Con được xếp vào {name(own)}, cách nhà {metres(explanation.get('cost'))} "
        where_vi += "theo đường đi"
        where_en = f"Placed at {name_en(own)}, {metres_en(explanation.get('cost'))} from home "
        where_en += "by road"
        if choice is not None:
            where_vi += f", nguyện vọng {choice} của gia đình"
            where_en += f", your choice number {choice}"
        elif ranked and mechanism == "da":
            where_vi += (
                ". Đây không phải trường gia đình đăng ký nguyện vọng: các trường gia đình đăng "
                "ký đều không nhận được con, và đây là trường gần nhà nhất nhận được con trong "
                "các trường còn lại"
            )
            where_en += (
                ". It is not one of the schools you ranked: none of them could take your child, "
                "and this is the nearest of the other schools that could"
            )
        elif ranked:
            where_vi += ", không phải trường gia đình đăng ký nguyện vọng"
            where_en += ", not one of the schools you ranked"
        if not entries and not (mechanism == "da" and ranked):
            where_vi += ", là trường gần nhà nhất con có thể được xếp"
            where_en += ", the nearest school your child could be placed at"
        vi.append(where_vi + ".")
        en.append(where_en + ".")
        if higher:
            names_vi = listed(higher)
            names_en = listed(higher, english=True)
            if choice is not None:
                vi.append(
                    f"Các trường gia đình xếp nguyện vọng cao hơn không nhận được con: {names_vi}."
                )
                en.append(f"The schools you ranked higher could not take your child: {names_en}.")
            else:
                vi.append(f"Các trường gia đình đăng ký không nhận được con: {names_vi}.")
                en.append(f"The schools you ranked could not take your child: {names_en}.")
        if nearer:
            names_vi = listed(nearer)
            names_en = listed(nearer, english=True)
            if FULL.issuperset(map(whys.__getitem__, nearer)):
                vi.append(f"Các trường gần nhà hơn đều đã hết chỗ: {names_vi}.")
                en.append(f"The nearer schools were all full: {names_en}.")
            else:
                vi.append(f"Các trường gần nhà hơn mà con không được xếp vào: {names_vi}.")
                en.append(f"Nearer schools your child was not placed at: {names_en}.")
    if ranked and mechanism in ORDER_VI:
        vi.append(ORDER_VI[mechanism])
        en.append(ORDER_EN[mechanism])
    limit = _beyond_norm(explanation)
    if own is not None and limit is not None:
        vi.append(f"Quãng đường này vượt mức chuẩn {metres(limit)} từ nhà đến trường.")
        en.append(f"This is beyond the norm of {metres_en(limit)} from home to school.")
    estimated = explanation.get("estimated")
    if isinstance(estimated, Mapping) and estimated.get("beyond_radius_m") is not None:
        radius, factor = estimated["beyond_radius_m"], _factor(estimated.get("factor"))
        if own is not None:
            vi.append(
                f"Trường được xếp cách nhà hơn {metres(radius)} theo đường đi trên bản đồ, nên "
                f"khoảng cách đến trường là ước tính: đường thẳng nhân "
                f"{factor.replace('.', ',')}, không dưới {metres(radius)}."
            )
            en.append(
                f"The school given is more than {metres_en(radius)} from the home by the mapped "
                f"roads, so the distance to it is estimated: the straight line times {factor}, "
                f"and at least {metres_en(radius)}."
            )
        else:
            vi.append(
                f"Không trường nào cách nhà trong vòng {metres(radius)} theo đường đi trên bản "
                f"đồ, nên các khoảng cách ở đây là ước tính: đường thẳng nhân "
                f"{factor.replace('.', ',')}."
            )
            en.append(
                f"No school is within {metres_en(radius)} of the home by the mapped roads, so "
                f"the distances here are estimated: the straight line times {factor}."
            )
    elif isinstance(estimated, Mapping):
        offset, factor = estimated.get("offset_m"), _factor(estimated.get("factor"))
        vi.append(
            f"Nhà cách con đường gần nhất có trên bản đồ {metres(offset)}, nên các khoảng cách "
            f"ở đây là ước tính: đoạn từ nhà ra con đường đó được tính bằng đường thẳng nhân "
            f"{factor.replace('.', ',')}."
        )
        en.append(
            f"The home is {metres_en(offset)} from the nearest mapped road, so the distances "
            f"here are estimated: that stretch is counted as the straight line times {factor}."
        )
    school_estimated = explanation.get("school_estimated")
    if own is not None and isinstance(school_estimated, Mapping):
        offset = school_estimated.get("offset_m")
        factor = _factor(school_estimated.get("factor"))
        vi.append(
            f"Trường cách con đường gần nhất có trên bản đồ {metres(offset)}, nên quãng đường "
            f"đến trường là ước tính: đoạn đó được tính bằng đường thẳng nhân "
            f"{factor.replace('.', ',')}."
        )
        en.append(
            f"The school is {metres_en(offset)} from the nearest mapped road, so the distance "
            f"to it is estimated: that stretch is counted as the straight line times {factor}."
        )
    summary, summary_en = " ".join(vi), " ".join(en)
    passed_vi = [t[0] for t in texts]
    passed_en = [t[1] for t in texts]
    return {
        "summary": summary,
        "passed_over": passed_vi,
        "summary_en": summary_en,
        "passed_over_en": passed_en,
        "text": " ".join([summary, *passed_vi]),
        "text_en": " ".join([summary_en, *passed_en]),
    }
