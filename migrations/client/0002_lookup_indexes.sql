-- Look-ups the field app and the store's checks make often.
CREATE INDEX persons_household ON persons (household_id);
CREATE INDEX appointments_person ON appointments (person_id, status);
CREATE INDEX attendance_post_day ON attendance (post_id, day);
CREATE INDEX signins_session_day ON signins (session_id, day);
CREATE INDEX visits_household ON visits (household_id, visit_date);
