"""Vietnamese school names for the demo.

Schools in the city are named after flowers and birds (preschools), historical figures and
scholars (primary and secondary schools) or the place they serve. A name already taken in the
city falls back to the ward's name, then to a number, so every generated name is unique and a
filter by school name finds one school.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

PREFIX = {
    "preschool": "Trường Mầm non",
    "primary": "Trường Tiểu học",
    "lower_secondary": "Trường THCS",
    "upper_secondary": "Trường THPT",
    "multi_level": "Trường Tiểu học, THCS và THPT",
    "continuing": "Trung tâm Giáo dục nghề nghiệp - Giáo dục thường xuyên",
}

PRESCHOOL = (
    "Hoa Sen",
    "Hoa Mai",
    "Hoa Hồng",
    "Hoa Cúc",
    "Hoa Lan",
    "Hoa Phượng",
    "Hoa Đào",
    "Hoa Sữa",
    "Họa Mi",
    "Sơn Ca",
    "Vành Khuyên",
    "Chim Non",
    "Bồ Câu",
    "Sao Mai",
    "Sao Sáng",
    "Tuổi Thơ",
    "Măng Non",
    "Mầm Xanh",
    "Búp Sen Hồng",
    "Hướng Dương",
    "Ánh Dương",
    "Rạng Đông",
    "Ban Mai",
    "Bình Minh",
    "Thỏ Ngọc",
    "Bé Ngoan",
    "Ngôi Sao",
    "Cầu Vồng",
    "Thiên Thần Nhỏ",
    "Hoa Thủy Tiên",
    "Hoa Bằng Lăng",
    "Tuổi Hồng",
    "Tuổi Ngọc",
    "Hoa Anh Đào",
    "Sóc Nâu",
    "Mặt Trời Bé Con",
    "Hải Âu",
    "Cánh Diều",
    "Trúc Xanh",
    "Hoa Thiên Lý",
    "19/5",
    "30/4",
    "Quốc tế Thiếu nhi",
    "Hoa Lư",
    "Tuổi Xanh",
    "Hồng Ân",
    "Thảo Nguyên",
    "Bông Hồng Nhỏ",
)
PEOPLE = (
    "Nguyễn Bỉnh Khiêm",
    "Lê Quý Đôn",
    "Trần Hưng Đạo",
    "Lê Lợi",
    "Nguyễn Du",
    "Nguyễn Trãi",
    "Chu Văn An",
    "Lương Thế Vinh",
    "Trần Quốc Toản",
    "Võ Thị Sáu",
    "Nguyễn Thị Minh Khai",
    "Lê Văn Tám",
    "Kim Đồng",
    "Phan Bội Châu",
    "Phan Chu Trinh",
    "Hùng Vương",
    "Quang Trung",
    "Ngô Quyền",
    "Lý Thường Kiệt",
    "Đinh Tiên Hoàng",
    "Trưng Vương",
    "Bà Triệu",
    "Nguyễn Văn Trỗi",
    "Lê Hồng Phong",
    "Nguyễn Khuyến",
    "Tô Hiến Thành",
    "Hai Bà Trưng",
    "Võ Trường Toản",
    "Trần Phú",
    "Nguyễn Đình Chiểu",
    "Trương Định",
    "Nguyễn Hữu Cảnh",
    "Lê Văn Duyệt",
    "Trần Quang Khải",
    "Lý Tự Trọng",
    "Nguyễn Thái Học",
    "Phạm Ngũ Lão",
    "Hồ Tùng Mậu",
    "Nguyễn Huệ",
    "Lê Thánh Tông",
    "Nguyễn Văn Cừ",
    "Trần Văn Ơn",
    "Nguyễn An Ninh",
    "Huỳnh Thúc Kháng",
    "Mạc Đĩnh Chi",
    "Nguyễn Hiền",
    "Tô Vĩnh Diện",
    "Phan Đình Phùng",
    "Võ Văn Tần",
    "Điện Biên",
    "Bạch Đằng",
    "Nguyễn Trung Trực",
    "Trần Cao Vân",
    "Ngô Sĩ Liên",
    "Lê Anh Xuân",
    "Nguyễn Văn Linh",
    "Trần Đại Nghĩa",
    "Nguyễn Thượng Hiền",
    "Lương Định Của",
    "Đoàn Thị Điểm",
    "Hồ Xuân Hương",
    "Nguyễn Tri Phương",
    "Phan Văn Trị",
    "Nguyễn Thị Định",
    "Lê Thị Hồng Gấm",
    "Võ Nguyên Giáp",
    "Trần Khánh Dư",
    "Phạm Văn Đồng",
    "Lê Quang Định",
    "Trịnh Hoài Đức",
    "Phan Huy Ích",
    "Nguyễn Văn Tố",
    "Cao Bá Quát",
    "Ngô Thời Nhiệm",
    "Đặng Trần Côn",
    "Tôn Thất Tùng",
)
MULTI_LEVEL = (
    "Quốc tế Sài Gòn",
    "Việt Úc",
    "Việt Mỹ",
    "Ngôi Sao",
    "Trí Tuệ",
    "Hòa Bình",
    "Thái Bình Dương",
    "Tuệ Đức",
    "Vinschool",
    "Hoàng Gia",
    "Đinh Thiện Lý",
    "Nam Mỹ",
    "Văn Lang",
    "Việt Anh",
    "Emasi",
)


def _pool(level: str) -> tuple[str, ...]:
    if level == "preschool":
        return PRESCHOOL
    if level == "multi_level":
        return MULTI_LEVEL
    return PEOPLE


def school_names(
    levels: Iterable[str], places: Iterable[str], districts: Iterable[str], rng: np.random.Generator
) -> list[str]:
    """A unique Vietnamese name for each school, given its level, ward (short name) and district."""
    taken: set[str] = set()
    names = []
    for level, place, district in zip(levels, places, districts, strict=True):
        prefix = PREFIX[level]
        if level == "continuing":
            candidates = [f"{prefix} {district}", f"{prefix} {place}"]
        else:
            pool = _pool(level)
            first, second = (pool[int(i)] for i in rng.integers(len(pool), size=2))
            candidates = [f"{prefix} {first}", f"{prefix} {second}", f"{prefix} {place}"]
            # As people tell two schools of the same name apart: by the place they serve.
            candidates += [f"{prefix} {first} {place}", f"{prefix} {second} {place}"]
        name = next((c for c in candidates if c not in taken), None)
        number = 2
        while name is None:
            candidate = f"{candidates[-1]} {number}"
            name = candidate if candidate not in taken else None
            number += 1
        taken.add(name)
        names.append(name)
    return names
