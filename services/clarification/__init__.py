"""clarification: schedules public clarification meetings for falsely accused officials."""
