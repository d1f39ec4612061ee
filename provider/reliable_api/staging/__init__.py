"""Staged record files: how records travel between tasks (XCom carries only paths and counts)."""
