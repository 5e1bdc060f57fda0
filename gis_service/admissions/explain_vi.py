"""A run's stored explanation for one child, told in plain Vietnamese for the parent."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def metres(value: object) -> str:
    """A distance the Vietnamese way: '1.340 m'."""
    if not isinstance(value, int | float):
        return "?"
    return f"{round(value):,} m".replace(",", ".")


def _cost(value: object, unit: object) -> str:
    if unit in (None, "m"):
        return metres(value)
    number = f"{round(value):,}".replace(",", ".") if isinstance(value, int | float) else "?"
    return f"{number} {unit}"


def passed_over_vi(entry: Mapping[str, Any], mechanism: str, name: str) -> str:
    """Why one nearer (or higher-ranked) school was not given, as one Vietnamese sentence."""
    why = str(entry.get("why", ""))
    cutoff: Mapping[str, Any] = entry.get("cutoff") or {}
    school = f"{name} (cách nhà {metres(entry.get('cost'))})"
    if why == "no seats":
        return f"{school} không tuyển lớp này."
    if why == "not eligible":
        return f"{school}: con không thuộc diện được nhận vào trường này."
    if why == "beyond maximum distance":
        return f"{school} xa hơn mức tối đa {metres(cutoff.get('max_cost'))} của đợt này."
    if why == "siblings kept together":
        if not cutoff.get("all_eligible", True):
            return (
                f"{school} không nhận được tất cả anh chị em của con, nên các con được xếp "
                "chung một trường khác."
            )
        return (
            f"{school} chỉ còn {cutoff.get('free_seats')} chỗ, không đủ để "
            f"{cutoff.get('siblings')} anh chị em học cùng trường."
        )
    if why.startswith("not chosen"):
        if mechanism == "nearest":
            return (
                f"{school} bằng phương án được chọn về tổng quãng đường; "
                "kết quả theo số bốc thăm công khai."
            )
        return f"{school} không được chọn khi tối ưu quãng đường chung của tất cả các trẻ."
    if why == "full":
        return f"{school} đã hết chỗ: {_full_vi(cutoff, mechanism, entry.get('cost'))}."
    return f"{school}: {why}."


def _full_vi(cutoff: Mapping[str, Any], mechanism: str, own_cost: object) -> str:
    """The numbers that show why a full school went to others."""
    if "filled_before" in cutoff:
        return f"trường đã đủ chỗ khi xét đến hồ sơ thứ {cutoff['filled_before']} theo thứ tự nộp"
    if "tier" in cutoff:
        if cutoff.get("cost") == own_cost:
            return (
                f"trẻ cuối cùng được nhận cùng nhóm ưu tiên, ở cùng khoảng cách, và có số bốc "
                f"thăm {cutoff.get('lottery')} đứng trước con"
            )
        return (
            f"trẻ cuối cùng được nhận thuộc nhóm ưu tiên {cutoff.get('tier')} và ở cách trường "
            f"{metres(cutoff.get('cost'))} (nhóm ưu tiên 0 được xét trước; cùng nhóm thì trẻ ở "
            "gần hơn được xét trước)"
        )
    if "capacity" in cutoff:
        return f"đã dùng {cutoff.get('seats_used')}/{cutoff.get('capacity')} chỗ"
    if mechanism == "nearest" or "price" in cutoff:
        if cutoff.get("price") is None:
            return (
                "không thể nhường chỗ cho con mà không phải chuyển một trẻ có ưu tiên cao hơn "
                "hoặc để một trẻ khác không có chỗ"
            )
        unit = cutoff.get("unit")
        others = _cost(cutoff.get("others_further"), unit)
        saved = _cost(cutoff.get("you_would_save"), unit)
        if cutoff.get("price") == 0:
            return (
                f"nhận con sẽ làm các trẻ khác cùng nhóm ưu tiên đi xa thêm {others}, đúng bằng "
                f"{saved} con được rút ngắn, nên kết quả theo số bốc thăm công khai"
            )
        return (
            f"nhận con sẽ làm các trẻ khác cùng nhóm ưu tiên đi xa thêm tổng cộng {others}, "
            f"nhiều hơn {saved} con được rút ngắn"
        )
    return "trường đã đủ chỉ tiêu"


def explain_vi(
    explanation: Mapping[str, Any],
    mechanism: str,
    school_names: Mapping[int, str],
    preferences: Sequence[int] = (),
) -> dict[str, Any]:
    """The summary sentence and one sentence per school passed over, in Vietnamese."""

    def name(school_id: object) -> str:
        return school_names.get(int(school_id), f"trường số {school_id}")  # type: ignore[call-overload]

    passed = [
        passed_over_vi(entry, mechanism, name(entry.get("school_id")))
        for entry in explanation.get("passed_over", [])
    ]
    own = explanation.get("school_id")
    if own is None:
        if passed:
            summary = (
                "Con chưa được xếp vào trường nào trong đợt này: mọi trường con được nhận "
                "đều đã hết chỗ."
            )
        else:
            summary = (
                "Con chưa được xếp vào trường nào: không có trường nào con thuộc diện được nhận."
            )
    else:
        where = f"cách nhà {metres(explanation.get('cost'))} theo đường đi"
        if own in preferences:
            where += f", nguyện vọng {list(preferences).index(own) + 1} của gia đình"
        elif not passed:
            where += ", là trường gần nhất con được nhận"
        summary = f"Con được xếp vào {name(own)}, {where}."
        if passed:
            # Only deferred acceptance follows the family's ranking; the other mechanisms
            # explain the closer schools, whatever the family ranked.
            closer = (
                "được xếp nguyện vọng cao hơn" if preferences and mechanism == "da" else "gần hơn"
            )
            summary += f" Các trường {closer} không nhận được con, vì lý do bên dưới."
    return {"summary": summary, "passed_over": passed}
