"""Mirage: a live AI avatar for any video call, published as a virtual camera and microphone."""

__version__ = "0.1.0"
APP_NAME = "Mirage"
VIRTUAL_CAMERA_NAME = "Mirage Camera"
VIRTUAL_MICROPHONE_NAME = "Mirage Microphone"
