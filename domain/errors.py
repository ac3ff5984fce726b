"""One error shape for every rejection: a field, a stable code, and a message in
Vietnamese and English, so the phone page can show it next to the field.

Every code has its messages once, in `MESSAGES`, and its HTTP status once, in
`STATUS` (422 when not listed). A message may name parameters (`{limit}`); a
parameter given as a `(vi, en)` pair is put in each language.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

Bilingual = tuple[str, str]  # (Vietnamese, English)

MESSAGES: dict[str, Bilingual] = {
    # requests
    "malformed_json": (
        "Nội dung gửi lên không phải JSON hợp lệ.",
        "The request body is not valid JSON.",
    ),
    "malformed_body": (
        "Không đọc được nội dung gửi lên (biểu mẫu hoặc tệp bị hỏng).",
        "The request body could not be read (a malformed form or file upload).",
    ),
    "body_too_large": (
        "Dữ liệu gửi lên quá lớn (tối đa {limit} byte).",
        "The request body is too large (at most {limit} bytes).",
    ),
    "unauthorized": (
        "Cần mã nhân viên (Authorization: Bearer ...).",
        "A staff bearer token is required (Authorization: Bearer ...).",
    ),
    "forbidden": ("Mục này nằm ngoài địa bàn của bạn.", "This is outside your area."),
    "not_found": ("Không tìm thấy {thing}.", "No such {thing}."),
    "method_not_allowed": ("Phương thức không được hỗ trợ.", "Method not allowed."),
    "unsupported_media_type": ("Kiểu dữ liệu không được hỗ trợ.", "Unsupported media type."),
    "http_error": ("Lỗi yêu cầu.", "The request was refused."),
    "internal_error": ("Lỗi hệ thống, vui lòng thử lại.", "Internal error, please retry."),
    "rate_limited": (
        "Đăng ký quá nhiều địa điểm trong một giờ; vui lòng thử lại sau hoặc liên hệ trạm y tế xã.",
        "Too many venue registrations from this address this hour; retry later or ask "
        "the commune health station.",
    ),
    "store_unavailable": (
        "Hệ thống lưu trữ tạm thời không khả dụng, vui lòng thử lại.",
        "Storage is temporarily unavailable, please retry ({detail}).",
    ),
    "interrupted": (
        "Yêu cầu bị gián đoạn trước khi có kết quả và có thể đã được ghi nhận; "
        "vui lòng kiểm tra trước khi gửi lại.",
        "The request was interrupted before it was answered and may have been applied; "
        "check before sending it again.",
    ),
    "idempotency_key_reused": (
        "Khóa Idempotency-Key đã được dùng cho một tờ khai khác.",
        "This Idempotency-Key was already used for a different declaration.",
    ),
    # dates and times
    "date_in_future": ("Không được là thời điểm trong tương lai.", "Cannot be in the future."),
    "end_before_start": (
        "Ngày kết thúc phải sau ngày bắt đầu.",
        "The end must be after the start.",
    ),
    # declarations and identity
    "date_of_birth_implausible": ("Ngày sinh không hợp lý.", "Implausible date of birth."),
    "travel_date_too_old": (
        "Chỉ khai lịch trình trong {days} ngày gần nhất.",
        "Travel history covers only the last {days} days.",
    ),
    "province_unknown": ("Mã tỉnh/thành phố không tồn tại.", "Unknown province code."),
    "commune_unknown": ("Mã xã/phường không tồn tại.", "Unknown commune code."),
    "commune_not_in_province": (
        "Xã/phường không thuộc tỉnh/thành phố đã chọn.",
        "The commune is not in the province chosen.",
    ),
    "place_required": ("Cần tỉnh/thành phố hoặc địa chỉ.", "Give a province or an address."),
    "plate_required": ("Cần biển số xe.", "The vehicle's plate is required."),
    "plate_invalid": (
        "Biển số xe không hợp lệ (ví dụ 74A-123.45).",
        "Not a Vietnamese plate (e.g. 74A-123.45).",
    ),
    "phone_invalid": (
        "Số điện thoại di động không hợp lệ (10 chữ số, ví dụ 0912345678).",
        "Not a valid Vietnamese mobile number (10 digits, e.g. 0912345678).",
    ),
    "passport_format": (
        "Số hộ chiếu gồm 6–12 chữ cái hoặc chữ số.",
        "A passport number has 6–12 letters or digits.",
    ),
    "nationality_required": (
        "Cần quốc tịch (mã 2 chữ cái, ví dụ VN, LA) khi khai bằng hộ chiếu.",
        "A passport needs the nationality (2-letter code, e.g. VN, LA).",
    ),
    "cmnd_format": (
        "Số CMND gồm đúng 9 chữ số.",
        "An old identity card (CMND) number has exactly 9 digits.",
    ),
    "cccd_format": (
        "Số CCCD gồm đúng 12 chữ số.",
        "A citizen identity card (CCCD) number has exactly 12 digits.",
    ),
    "cccd_province_unknown": (
        "3 chữ số đầu ({prefix}) không phải mã tỉnh nơi đăng ký khai sinh.",
        "The first 3 digits ({prefix}) are not a place-of-birth-registration code.",
    ),
    "cccd_century_mismatch": (
        "Chữ số thứ 4 của CCCD không khớp với thế kỷ năm sinh.",
        "The CCCD's 4th digit does not match the century of the date of birth.",
    ),
    "cccd_sex_mismatch": (
        "Chữ số thứ 4 của CCCD không khớp với giới tính.",
        "The CCCD's 4th digit does not match the sex given.",
    ),
    "cccd_birth_year_mismatch": (
        "Chữ số thứ 5–6 của CCCD ({digits}) không khớp với năm sinh {year}.",
        "The CCCD's 5th–6th digits ({digits}) do not match the birth year {year}.",
    ),
    # tokens
    "token_malformed": ("Mã không đúng định dạng ({what}).", "The token is malformed ({what})."),
    "token_bad_signature": (
        "Chữ ký của mã không hợp lệ (mã giả hoặc đã bị sửa).",
        "The token's signature is not valid (forged or altered).",
    ),
    "token_expired": ("Mã đã hết hạn lúc {expired}.", "The token expired at {expired}."),
    "token_not_yet_valid": ("Mã được cấp ở tương lai.", "The token is issued in the future."),
    "receipt_secret_invalid": (
        "Mã bí mật của tờ khai không đúng. Dùng điện thoại đã gửi tờ khai, hoặc nhờ cán "
        "bộ tại chốt kiểm soát.",
        "The declaration's receipt secret does not match. Use the phone that submitted "
        "the declaration, or ask the officer at a checkpoint.",
    ),
    # venues and check-ins
    "venue_inactive": ("Địa điểm đã ngừng hoạt động.", "This venue has been withdrawn."),
    "person_required": (
        "Cần đúng một trong: mã QR tờ khai, số giấy tờ, hoặc số điện thoại.",
        "Give exactly one of: declaration QR token, document number, or phone.",
    ),
    "person_unknown": (
        "Không có tờ khai nào với số điện thoại này.",
        "No declaration has this phone number.",
    ),
    "checkin_too_old": (
        "Chỉ nhận lượt quét trong {days} ngày gần nhất.",
        "Only scans from the last {days} days are accepted.",
    ),
    "no_open_checkin": (
        "Không có lượt check-in nào tại đây trong 24 giờ qua.",
        "No check-in at this venue in the last 24 hours.",
    ),
    # cases, contacts, quarantine
    "case_person_required": (
        "Cần số giấy tờ hoặc mã tờ khai của người bệnh.",
        "Give the person's document number or declaration id.",
    ),
    "onset_required": (
        "Ca xác định cần ngày khởi phát hoặc ngày lấy mẫu dương tính đầu tiên.",
        "A confirmed case needs an onset date or a first positive sample date.",
    ),
    "not_a_follow_up_day": (
        "Ngày này không thuộc lịch theo dõi của người này.",
        "This date is not in the contact's follow-up schedule.",
    ),
    # checkpoints and cameras
    "camera_id_taken": ("Mã camera đã được dùng.", "This camera id is already used."),
    "lane_unknown": (
        "Chốt chỉ có {lanes} làn.",
        "The checkpoint has {lanes} lanes.",
    ),
    "source_invalid": (
        "Nguồn hình không hợp lệ ({detail}); dùng rtsp://, http(s)://, file:// hoặc sim://.",
        "Not a usable stream source ({detail}); use rtsp://, http(s)://, file:// or sim://.",
    ),
    "pair_unknown": (
        "Camera nhiệt phải ghép với một camera thường của chốt.",
        "A thermal camera must name a visible camera of this checkpoint.",
    ),
    "pair_other_lane": (
        "Camera nhiệt và camera thường ghép đôi phải cùng làn.",
        "A thermal camera and its visible camera must watch the same lane.",
    ),
    "homography_invalid": (
        "Cần ma trận 3×3 khả nghịch ánh xạ điểm ảnh thường sang điểm ảnh nhiệt.",
        "Give an invertible 3×3 matrix mapping visible pixels to thermal pixels.",
    ),
    "thermal_fields_on_other_camera": (
        "Chỉ camera nhiệt mới có pair_of, homography và blackbody.",
        "Only a thermal camera has pair_of, homography and blackbody.",
    ),
    "one_visible_camera_per_lane": (
        "Mỗi làn một camera thường (làn {lane}).",
        "One visible camera per lane (lane {lane}).",
    ),
    "one_iris_camera_per_lane": (
        "Mỗi làn một camera mống mắt (làn {lane}).",
        "One iris camera per lane (lane {lane}).",
    ),
    "no_face_in_frames": (
        "Không thấy khuôn mặt nào trong các khung hình.",
        "No face in the frames sent.",
    ),
    "thermal_frames_mismatch": (
        "Số khung hình nhiệt phải bằng số khung hình thường.",
        "Send as many thermal frames as visible frames, in the same order.",
    ),
    # faces, photos, thermal
    "faces_unavailable": (
        "Dịch vụ nhận diện khuôn mặt chưa chạy.",
        "Face recognition is not running on this server.",
    ),
    "iris_unavailable": (
        "Dịch vụ nhận diện mống mắt chưa chạy trên máy chủ này.",
        "Iris recognition is not running on this server.",
    ),
    "vision_unavailable": (
        "Dịch vụ đo nhiệt độ và đọc mã QR từ ảnh chưa chạy trên máy chủ này.",
        "Thermal measurement and QR reading from photos are not running on this server.",
    ),
    "busy": (
        "Hệ thống nhận diện đang quá tải, vui lòng thử lại.",
        "Recognition is at capacity; retry in a moment.",
    ),
    "no_face": ("Không thấy khuôn mặt nào trong ảnh.", "No face found in the image."),
    "poor_quality": (
        "Ảnh khuôn mặt chưa đạt (quá nhỏ, mờ hoặc nghiêng): {reasons}",
        "The face is not good enough to enrol: {reasons}",
    ),
    "no_consent": (
        "Người khai không đồng ý đăng ký sinh trắc học.",
        "The declaration does not consent to biometric enrolment.",
    ),
    "unit_unknown": (
        "Không có đơn vị {unit} (commune-<mã>, centre-<mã> hoặc province-<mã>).",
        "No unit {unit} (commune-<code>, centre-<code> or province-<code>).",
    ),
    "unit_required": (
        "Cần chọn đơn vị (tham số unit).",
        "Name the unit to list (the unit parameter).",
    ),
    "cursor_invalid": ("Con trỏ trang không hợp lệ.", "This page cursor is not valid."),
    "webhook_url_invalid": (
        "Địa chỉ webhook phải là http(s)://…",
        "A webhook URL must be http(s)://…",
    ),
    "event_type_unknown": ("Không có loại sự kiện {type}.", "No event type {type}."),
    "bad_coordinates": (
        "Cần {count} số, cách nhau bởi dấu phẩy (kích thước phải dương).",
        "Expected {count} comma-separated numbers (sizes positive).",
    ),
    # flags, inspections, reports
    "reason_required": (
        "Hãy ghi lý do bác bỏ cảnh báo.",
        "Say why the flag is dismissed.",
    ),
    "flag_unchanged": (
        "Cảnh báo đã ở trạng thái này.",
        "The flag already has this status.",
    ),
    "flag_changed_meanwhile": (
        "Cảnh báo vừa được người khác cập nhật; hãy tải lại và thử lại.",
        "Someone else changed this flag just now; reload it and try again.",
    ),
    "period_too_long": (
        "Khoảng thời gian tối đa {days} ngày.",
        "The period is at most {days} days.",
    ),
    "commune_required": (
        "Hãy chọn xã/phường cần kiểm tra.",
        "Choose the commune to inspect.",
    ),
    "photo_invalid": (
        "Ảnh không đọc được hoặc quá lớn ({detail}).",
        "The photo could not be read or is too large ({detail}).",
    ),
}

STATUS: dict[str, int] = {
    "malformed_json": 400,
    "malformed_body": 400,
    "token_malformed": 400,
    "token_bad_signature": 400,
    "token_not_yet_valid": 400,
    "token_expired": 410,
    "venue_inactive": 410,
    "unauthorized": 401,
    "forbidden": 403,
    "no_consent": 403,
    "receipt_secret_invalid": 403,
    "not_found": 404,
    "unit_unknown": 404,
    "person_unknown": 404,
    "method_not_allowed": 405,
    "idempotency_key_reused": 409,
    "no_open_checkin": 409,
    "flag_unchanged": 409,
    "flag_changed_meanwhile": 409,
    "body_too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "internal_error": 500,
    "store_unavailable": 503,
    "interrupted": 503,
    "faces_unavailable": 503,
    "iris_unavailable": 503,
    "vision_unavailable": 503,
    "busy": 503,
}

# What each record is called in "No such ..." (not_found's {thing}).
THINGS: dict[str, Bilingual] = {
    "declaration": ("tờ khai", "declaration"),
    "case": ("ca bệnh", "case"),
    "contact": ("người tiếp xúc", "contact"),
    "venue": ("địa điểm", "venue"),
    "quarantine_order": ("lệnh cách ly", "quarantine order"),
    "province": ("tỉnh/thành phố", "province"),
    "page": ("trang", "page"),
    "checkpoint": ("chốt kiểm soát", "checkpoint"),
    "webhook": ("webhook", "webhook"),
    "camera": ("camera", "camera"),
    "event": ("lượt kiểm tra (hoặc ảnh đã hết hạn)", "screening event (or its picture expired)"),
    "flag": ("cảnh báo khai báo", "flag"),
    "inspection": ("ảnh kiểm tra điểm QR (hoặc ảnh đã hết hạn)", "inspection photo (or expired)"),
}


def _format(template: str, params: dict[str, object], language: int) -> str:
    values = {
        k: (v[language] if isinstance(v, tuple) and len(v) == 2 else v) for k, v in params.items()
    }
    return template.format(**values) if values else template


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message_vi: str
    message_en: str

    @classmethod
    def of(cls, field: str, code: str, **params: object) -> FieldError:
        """The error `code` on `field`, its messages from the table."""
        vi, en = MESSAGES[code]
        return cls(field, code, _format(vi, params, 0), _format(en, params, 1))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class DomainError(Exception):
    """A request the domain refuses; `status` is the HTTP status the API answers with."""

    def __init__(self, errors: list[FieldError], status: int = 422) -> None:
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in errors))
        self.errors = errors
        self.status = status

    @classmethod
    def of(
        cls, field: str, code: str, *, status: int | None = None, **params: object
    ) -> DomainError:
        """One error, its messages and status from the tables."""
        return cls([FieldError.of(field, code, **params)], status or STATUS.get(code, 422))

    def __reduce__(self) -> tuple[type[DomainError], tuple[list[FieldError], int]]:
        # Errors cross process boundaries (Ray actors): rebuild from fields, not the message.
        return (DomainError, (self.errors, self.status))

    def body(self) -> dict[str, list[dict[str, str]]]:
        return {"errors": [e.as_dict() for e in self.errors]}


def not_found(field: str, thing: str) -> DomainError:
    return DomainError.of(field, "not_found", thing=THINGS[thing])


def refuse(errors: list[FieldError]) -> None:
    """Raise the rule's findings, all at once, if there are any."""
    if errors:
        raise DomainError(errors)


# --- request validation (types, required fields) ----------------------------------
# What a person should do, per field of the pages and the API, when a value is missing
# or of the wrong type. Paths as in the error's `field`; list indices as `*`.
FIELD_HINTS: dict[str, Bilingual] = {
    "full_name": (
        "Nhập họ và tên (ít nhất 2 ký tự).",
        "Enter your full name (2 characters or more).",
    ),
    "document_type": ("Chọn loại giấy tờ.", "Choose the kind of document."),
    "document_number": ("Nhập số giấy tờ.", "Enter the document number."),
    "nationality": (
        "Nhập quốc tịch: mã 2 chữ cái, ví dụ VN.",
        "Enter the nationality: 2 letters, e.g. VN.",
    ),
    "date_of_birth": ("Nhập ngày sinh.", "Enter your date of birth."),
    "sex": ("Chọn giới tính.", "Choose your sex."),
    "phone": ("Nhập số điện thoại di động.", "Enter your mobile phone number."),
    "residence": ("Nhập nơi ở hiện tại.", "Enter where you live now."),
    "residence.province_code": ("Chọn tỉnh/thành phố nơi ở.", "Choose your province."),
    "residence.commune_code": ("Chọn xã/phường nơi ở.", "Choose your commune or ward."),
    "residence.street": (
        "Nhập số nhà, đường (tối đa 200 ký tự).",
        "Enter the house number and street (200 characters at most).",
    ),
    "coming_from": ("Cho biết nơi đi.", "Say where you are coming from."),
    "coming_from.province_code": (
        "Chọn tỉnh/thành phố nơi đi.",
        "Choose the province you are coming from.",
    ),
    "coming_from.country": (
        "Nhập mã quốc gia 2 chữ cái, ví dụ VN.",
        "Enter a 2-letter country code, e.g. VN.",
    ),
    "going_to": ("Cho biết nơi đến.", "Say where you are going."),
    "going_to.province_code": (
        "Chọn tỉnh/thành phố nơi đến.",
        "Choose the province you are going to.",
    ),
    "going_to.country": (
        "Nhập mã quốc gia 2 chữ cái, ví dụ VN.",
        "Enter a 2-letter country code, e.g. VN.",
    ),
    "vehicle": ("Chọn phương tiện.", "Choose how you travel."),
    "vehicle.type": ("Chọn phương tiện.", "Choose how you travel."),
    "vehicle.plate": ("Nhập biển số xe, ví dụ 74A-123.45.", "Enter the plate, e.g. 74A-123.45."),
    "travel_history": ("Kiểm tra các nơi đã đến.", "Check the places you visited."),
    "travel_history.*.province_code": (
        "Chọn tỉnh/thành phố đã đến.",
        "Choose the province you visited.",
    ),
    "travel_history.*.date": ("Chọn ngày đến nơi đó.", "Choose the day you were there."),
    "symptoms.other": (
        "Mô tả triệu chứng khác ngắn gọn (tối đa 200 ký tự).",
        "Describe other symptoms briefly (200 characters at most).",
    ),
    "vaccination_doses": (
        "Nhập số mũi vắc xin đã tiêm (0–10).",
        "Enter the number of vaccine doses (0–10).",
    ),
    "latest_test.type": ("Chọn loại xét nghiệm.", "Choose the kind of test."),
    "latest_test.date": ("Chọn ngày xét nghiệm.", "Choose the date of the test."),
    "latest_test.result": ("Chọn kết quả xét nghiệm.", "Choose the test result."),
    "venue_code": ("Quét mã QR của địa điểm.", "Scan the venue's QR code."),
    "person_token": (
        "Khai báo y tế trước để có mã QR.",
        "Make a health declaration first to get your QR code.",
    ),
    "image": (
        "Chọn một ảnh (JPEG, PNG, WebP, BMP hoặc TIFF).",
        "Choose a photo (JPEG, PNG, WebP, BMP or TIFF).",
    ),
    "file": ("Chọn tệp ảnh nhiệt.", "Choose a thermal image file."),
}

# Generic messages by validation error type, for fields without a hint.
VALIDATION_MESSAGES: dict[str, Bilingual] = {
    "missing": ("Thiếu thông tin bắt buộc.", "This is required."),
    "string_too_short": ("Quá ngắn.", "Too short."),
    "string_too_long": ("Quá dài.", "Too long."),
    "string_pattern_mismatch": ("Sai định dạng.", "Wrong format."),
    "string_type": ("Phải là chuỗi ký tự.", "Must be text."),
    "int_parsing": ("Phải là số nguyên.", "Must be a whole number."),
    "int_type": ("Phải là số nguyên.", "Must be a whole number."),
    "int_from_float": ("Phải là số nguyên.", "Must be a whole number."),
    "float_parsing": ("Phải là một số.", "Must be a number."),
    "float_type": ("Phải là một số.", "Must be a number."),
    "finite_number": ("Phải là một số hữu hạn.", "Must be a finite number."),
    "bool_parsing": ("Phải là có/không.", "Must be yes or no."),
    "bool_type": ("Phải là có/không.", "Must be yes or no."),
    "date_from_datetime_parsing": ("Ngày không hợp lệ (YYYY-MM-DD).", "Not a date (YYYY-MM-DD)."),
    "date_from_datetime_inexact": ("Ngày không hợp lệ (YYYY-MM-DD).", "Not a date (YYYY-MM-DD)."),
    "date_parsing": ("Ngày không hợp lệ (YYYY-MM-DD).", "Not a date (YYYY-MM-DD)."),
    "date_type": ("Ngày không hợp lệ (YYYY-MM-DD).", "Not a date (YYYY-MM-DD)."),
    "datetime_parsing": ("Thời điểm không hợp lệ (ISO 8601).", "Not a date and time (ISO 8601)."),
    "datetime_from_date_parsing": (
        "Thời điểm không hợp lệ (ISO 8601).",
        "Not a date and time (ISO 8601).",
    ),
    "datetime_type": ("Thời điểm không hợp lệ (ISO 8601).", "Not a date and time (ISO 8601)."),
    "enum": ("Giá trị không nằm trong danh sách cho phép.", "Not one of the allowed values."),
    "literal_error": (
        "Giá trị không nằm trong danh sách cho phép.",
        "Not one of the allowed values.",
    ),
    "extra_forbidden": ("Trường này không được phép.", "This field is not allowed."),
    "greater_than": ("Giá trị quá nhỏ.", "Too small."),
    "greater_than_equal": ("Giá trị quá nhỏ.", "Too small."),
    "less_than": ("Giá trị quá lớn.", "Too large."),
    "less_than_equal": ("Giá trị quá lớn.", "Too large."),
    "too_long": ("Quá nhiều mục.", "Too many items."),
    "too_short": ("Quá ít mục.", "Too few items."),
    "model_attributes_type": ("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "model_type": ("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "dict_type": ("Phải là một đối tượng JSON.", "Must be a JSON object."),
    "list_type": ("Phải là một danh sách.", "Must be a list."),
    "string_unicode": ("Chuỗi ký tự không hợp lệ.", "Not valid text."),
}
_GENERIC: Bilingual = ("Giá trị không hợp lệ.", "Not a valid value.")
# Wrong content rather than a missing or unreadable value: the generic message says more
# than the field's hint (e.g. "Too long" beats "Enter your name").
_CONTENT_TYPES = {"string_too_long", "too_long", "too_short", "extra_forbidden"}


def validation_error(field: str, error_type: str) -> FieldError:
    """A type or presence problem found before the rules run, said for a person."""
    hint = FIELD_HINTS.get(re.sub(r"\.\d+(?=\.|$)", ".*", field))
    vi, en = (
        hint
        if hint and error_type not in _CONTENT_TYPES
        else (VALIDATION_MESSAGES.get(error_type, _GENERIC))
    )
    return FieldError(field, error_type, vi, en)
