-- Penalty decisions made in the data interval, or entered/changed in it (late entries, corrections,
-- revocations, fixes of quarantined records). Bound parameters: :date_from, :date_to (decision dates,
-- half-open), :ts_from, :ts_to (local timestamps, half-open).
SELECT d.decision_id, d.doc_no, d.decision_date, d.penalty_codes, d.fine_yuan, d.confiscation_yuan,
       d.licence_affected, d.violation_type, d.facts, d.legal_basis, d.content, d.effect_until,
       d.status, d.created_at, d.updated_at,
       c.case_no, c.department, c.authority_name, c.authority_uscc, c.party_type,
       COALESCE(e.ent_name, p.person_name) AS party_name,
       e.uscc AS party_uscc, e.legal_rep, e.district_code, e.district_name,
       p.id_type AS person_id_type, p.id_no AS person_id_no
  FROM penalty_decision d
  JOIN enforcement_case c ON c.case_id = d.case_id
  LEFT JOIN enterprise e ON e.ent_id = c.ent_id
  LEFT JOIN person p ON p.person_id = c.person_id
 WHERE (d.decision_date >= :date_from AND d.decision_date < :date_to)
    OR (d.updated_at >= :ts_from AND d.updated_at < :ts_to)
    OR (d.created_at >= :ts_from AND d.created_at < :ts_to)
 ORDER BY d.decision_id
