-- Indexes for scope filters and reports.
CREATE INDEX households_village ON households (village_code);
CREATE INDEX persons_household ON persons (household_id);
CREATE INDEX persons_village ON persons (village_code);
CREATE INDEX employments_person ON employments (person_id);
CREATE INDEX appointments_person ON appointments (person_id, status);
CREATE INDEX attendance_post_day ON attendance (post_id, day);
CREATE INDEX signins_session_day ON signins (session_id, day);
CREATE INDEX visits_household ON visits (household_id, visit_date);
