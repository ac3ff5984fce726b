"""Refused input (a photo, a thermal file): a stable `code` and messages in English and
Vietnamese, so the API answers in its one error shape and the CLI says why. The tables
live here, apart from the decoders, so a process that only receives these errors (an
API replica, from the inference deployments) does not load the imaging libraries."""

from __future__ import annotations

from typing import ClassVar


class InputError(ValueError):
    """`detail` is technical and language-neutral (sizes, offsets, format names)."""

    MESSAGES: ClassVar[dict[str, tuple[str, str]]] = {}  # code → (English, Vietnamese)
    DEFAULT: ClassVar[tuple[str, str]] = ("Invalid input", "Dữ liệu không hợp lệ")

    def __init__(self, code: str, detail: str = "") -> None:
        # args == constructor arguments, so the error pickles across Ray processes
        super().__init__(code, detail)
        self.code = code
        self.detail = detail
        en, vi = self.MESSAGES.get(code, self.DEFAULT)
        self.message_en = f"{en} ({detail})" if detail else en
        self.message_vi = f"{vi} ({detail})" if detail else vi

    def __str__(self) -> str:
        return f"{self.code}: {self.message_en}"


_IMAGE_MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("The file is empty", "Tệp rỗng"),
    "not_an_image": ("The file is not an image", "Tệp không phải là ảnh"),
    "unsupported_format": (
        "Unsupported image format (use JPEG, PNG, WebP, BMP or TIFF)",
        "Định dạng ảnh không được hỗ trợ (dùng JPEG, PNG, WebP, BMP hoặc TIFF)",
    ),
    "empty_image": ("The image has no pixels", "Ảnh không có điểm ảnh nào"),
    "too_large": ("The image is too large", "Ảnh quá lớn"),
    "truncated": ("The image is truncated or corrupt", "Ảnh bị cắt cụt hoặc bị hỏng"),
}


class ImageError(InputError):
    """A photo we refuse: stable `code`, messages in English and Vietnamese."""

    MESSAGES = _IMAGE_MESSAGES
    DEFAULT = ("Invalid image", "Ảnh không hợp lệ")


_THERMAL_MESSAGES: dict[str, tuple[str, str]] = {
    "empty": ("The file is empty", "Tệp rỗng, không có dữ liệu"),
    "truncated": ("The file is truncated", "Tệp bị cắt cụt, không đầy đủ"),
    "no_thermal_data": (
        "No radiometric thermal data in the file",
        "Không tìm thấy dữ liệu nhiệt bức xạ trong tệp",
    ),
    "bad_dimensions": ("Image dimensions are invalid", "Kích thước ảnh không hợp lệ"),
    "bad_size": (
        "Data size does not match the declared image size",
        "Kích thước dữ liệu không khớp với kích thước ảnh đã khai báo",
    ),
    "unsupported_format": (
        "Unsupported thermal image format",
        "Định dạng ảnh nhiệt không được hỗ trợ",
    ),
    "unsupported_dtype": (
        "Unsupported pixel data type",
        "Kiểu dữ liệu điểm ảnh không được hỗ trợ",
    ),
    "corrupt": ("The file is damaged and cannot be decoded", "Tệp bị hỏng, không giải mã được"),
    "not_finite": (
        "The data contains NaN or infinite values",
        "Dữ liệu chứa giá trị NaN hoặc vô cực",
    ),
    "out_of_range": (
        "Temperatures are outside the physical range (-100 °C to 1000 °C)",
        "Nhiệt độ nằm ngoài khoảng vật lý cho phép (-100 °C đến 1000 °C)",
    ),
    "bad_metadata": (
        "The camera parameters stored in the file are invalid",
        "Thông số máy ảnh lưu trong tệp không hợp lệ",
    ),
    "bad_calibration": ("Invalid calibration parameters", "Thông số hiệu chuẩn không hợp lệ"),
    "missing_calibration": (
        "Raw sensor counts need the camera's Planck calibration constants",
        "Giá trị thô của cảm biến cần các hằng số hiệu chuẩn Planck của máy ảnh",
    ),
    "frame_out_of_range": (
        "The requested frame does not exist",
        "Khung hình được yêu cầu không tồn tại",
    ),
}


class ThermalFormatError(InputError):
    """A thermal file we refuse: stable `code`, human message in English and Vietnamese."""

    MESSAGES = _THERMAL_MESSAGES
    DEFAULT = ("Invalid thermal data", "Dữ liệu nhiệt không hợp lệ")


class SourceError(Exception):
    """A camera source that cannot go on: `unreachable` (cannot open; worth retrying) or
    `ended` (a recording is finished; a live stream that stops)."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}" if self.detail else self.code


_IRIS_MESSAGES: dict[str, tuple[str, str]] = {
    "not_nir": (
        "Not a near-infrared eye image (a colour photo, or not one grey channel)",
        "Không phải ảnh mắt hồng ngoại gần (ảnh màu, hoặc không phải một kênh xám)",
    ),
    "too_small": (
        "The eye image is too small for iris recognition",
        "Ảnh mắt quá nhỏ để nhận diện mống mắt",
    ),
    "no_pupil": ("No pupil found in the image", "Không tìm thấy đồng tử trong ảnh"),
    "no_iris": ("No iris boundary found in the image", "Không tìm thấy viền mống mắt trong ảnh"),
    "occluded": (
        "Too much of the iris is hidden (eyelids, eyelashes, reflections)",
        "Mống mắt bị che quá nhiều (mí mắt, lông mi, phản xạ)",
    ),
    "out_of_focus": ("The iris is out of focus", "Ảnh mống mắt bị mờ, không rõ nét"),
    "off_gaze": (
        "The eye is not looking at the camera",
        "Mắt không nhìn thẳng vào máy ảnh",
    ),
    "pupil_ratio": (
        "The pupil is too dilated or too constricted for a reliable code",
        "Đồng tử giãn hoặc co quá mức để mã hoá tin cậy",
    ),
}


class IrisError(InputError):
    """An eye image we cannot encode: stable `code`, messages in English and Vietnamese."""

    MESSAGES = _IRIS_MESSAGES
    DEFAULT = ("Unusable eye image", "Ảnh mắt không dùng được")
