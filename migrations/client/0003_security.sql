-- Encryption at rest: sensitive fields are sealed in place; exact look-up by ID number goes
-- through a keyed hash (blind index) instead of the number itself.
ALTER TABLE persons ADD COLUMN id_number_bidx TEXT;
CREATE INDEX persons_id_number_bidx ON persons (id_number_bidx);
