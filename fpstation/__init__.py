"""fpstation — desktop fingerprint biometric workstation."""

__app_name__ = "fpstation"
__display_name__ = "fpstation"
__organization__ = "fpstation"
__version__ = "0.1.0"
