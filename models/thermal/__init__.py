"""Radiometric thermal imaging: raw sensor counts and camera files → °C."""
