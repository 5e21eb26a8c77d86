-- Coercive measures (查封/扣押) decided in the interval or entered/changed in it. Same parameters as
-- extract_penalty.sql.
SELECT m.measure_id, m.doc_no, m.measure_type, m.decision_date, m.start_date, m.end_date, m.lifted_date,
       m.objects, m.reason, m.legal_basis, m.status, m.created_at, m.updated_at,
       c.case_no, c.department, c.authority_name, c.authority_uscc, c.party_type,
       COALESCE(e.ent_name, p.person_name) AS party_name,
       e.uscc AS party_uscc, e.legal_rep, e.district_code, e.district_name,
       p.id_type AS person_id_type, p.id_no AS person_id_no
  FROM coercive_measure m
  JOIN enforcement_case c ON c.case_id = m.case_id
  LEFT JOIN enterprise e ON e.ent_id = c.ent_id
  LEFT JOIN person p ON p.person_id = c.person_id
 WHERE (m.decision_date >= :date_from AND m.decision_date < :date_to)
    OR (m.updated_at >= :ts_from AND m.updated_at < :ts_to)
    OR (m.created_at >= :ts_from AND m.created_at < :ts_to)
 ORDER BY m.measure_id
