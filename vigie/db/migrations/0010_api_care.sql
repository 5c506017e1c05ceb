-- API care routes (issue 7): indexes for the lists of alerts, drafts, approved messages and the audit log.

-- a patient's alerts and drafts (filter by animal), the approved messages of an owner's animals
CREATE INDEX alerts_animal_status ON alerts (animal_id, status);
CREATE INDEX drafts_animal_status ON drafts (animal_id, status);
CREATE INDEX drafts_clinic_decided ON drafts (clinic_id, decided_at DESC) WHERE status IN ('approved', 'edited');
-- the drafts written from an alert (alert page)
CREATE INDEX drafts_alert_ids ON drafts USING gin (alert_ids);
-- the history of one object (an alert, a draft, a rule's overrides), within a clinic
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, at);
CREATE INDEX audit_log_clinic_object ON audit_log (clinic_id, object_type, object_id, at DESC);
