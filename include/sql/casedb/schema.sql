-- 执法案件系统 (enforcement case system) — the bureau's own schema, not the 双公示 layout.
-- Portable DDL: runs on SQLite (demo) and PostgreSQL (CI, compose). Timestamps are local time
-- (Asia/Shanghai), as the case system records them; dates are DATE.

CREATE TABLE IF NOT EXISTS enterprise (
    ent_id            VARCHAR(20) PRIMARY KEY,
    uscc              VARCHAR(18),
    ent_name          VARCHAR(200) NOT NULL,
    ent_kind          VARCHAR(8)  NOT NULL,          -- ENT 企业/组织 | IND 个体工商户
    district_code     VARCHAR(6)  NOT NULL,          -- 440402 香洲区 ...
    district_name     VARCHAR(40) NOT NULL,
    industry          VARCHAR(40) NOT NULL,          -- 危险化学品 / 烟花爆竹 / 冶金 / 工贸 ...
    key_supervision   SMALLINT    NOT NULL DEFAULT 0, -- 重点监管
    standard_grade    VARCHAR(8),                     -- 安全生产标准化 一级/二级/三级/未定级
    risk_level        VARCHAR(8),                     -- 安全风险等级 the bureau assessed: 重大/较大/一般/低, NULL 未评估
    legal_rep         VARCHAR(50),
    address           VARCHAR(200),
    created_at        TIMESTAMP   NOT NULL,
    updated_at        TIMESTAMP   NOT NULL
);

CREATE TABLE IF NOT EXISTS person (
    person_id         VARCHAR(20) PRIMARY KEY,
    person_name       VARCHAR(50) NOT NULL,
    id_type           VARCHAR(10) NOT NULL,          -- RIC | PASSPORT | HKMO | TW | PR
    id_no             VARCHAR(64) NOT NULL,
    created_at        TIMESTAMP   NOT NULL
);

CREATE TABLE IF NOT EXISTS inspector (
    inspector_id      VARCHAR(20) PRIMARY KEY,
    inspector_name    VARCHAR(50) NOT NULL,
    cert_no           VARCHAR(30) NOT NULL,          -- 执法证号
    department        VARCHAR(40) NOT NULL,          -- 科室
    active            SMALLINT    NOT NULL DEFAULT 1
);

CREATE TABLE IF NOT EXISTS enforcement_case (
    case_id           VARCHAR(20) PRIMARY KEY,
    case_no           VARCHAR(60) NOT NULL,
    department        VARCHAR(40) NOT NULL,          -- 承办科室
    authority_name    VARCHAR(200) NOT NULL,         -- 作出决定的机关
    authority_uscc    VARCHAR(18) NOT NULL,
    party_type        VARCHAR(8)  NOT NULL,          -- ENT | IND | PER
    ent_id            VARCHAR(20) REFERENCES enterprise (ent_id),
    person_id         VARCHAR(20) REFERENCES person (person_id),
    status            VARCHAR(12) NOT NULL,          -- OPEN | DECIDED | CLOSED
    created_at        TIMESTAMP   NOT NULL,
    updated_at        TIMESTAMP   NOT NULL
);

CREATE TABLE IF NOT EXISTS penalty_decision (
    decision_id       VARCHAR(20) PRIMARY KEY,
    case_id           VARCHAR(20) NOT NULL REFERENCES enforcement_case (case_id),
    doc_no            VARCHAR(128),
    decision_date     DATE,
    penalty_codes     VARCHAR(60),                   -- system codes, comma separated (W,FK,...)
    fine_yuan         NUMERIC(18, 2),
    confiscation_yuan NUMERIC(18, 2),
    licence_affected  VARCHAR(200),
    violation_type    VARCHAR(400),
    facts             TEXT,
    legal_basis       TEXT,
    content           TEXT,
    effect_until      DATE,
    status            VARCHAR(12) NOT NULL,          -- VALID | CHANGED | REVOKED
    status_changed_at TIMESTAMP,
    created_at        TIMESTAMP   NOT NULL,
    updated_at        TIMESTAMP   NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_penalty_decision_date ON penalty_decision (decision_date);
CREATE INDEX IF NOT EXISTS ix_penalty_updated_at ON penalty_decision (updated_at);

CREATE TABLE IF NOT EXISTS coercive_measure (
    measure_id        VARCHAR(20) PRIMARY KEY,
    case_id           VARCHAR(20) NOT NULL REFERENCES enforcement_case (case_id),
    doc_no            VARCHAR(128),
    measure_type      VARCHAR(8)  NOT NULL,          -- SEAL 查封 | SEIZE 扣押
    decision_date     DATE,
    start_date        DATE,
    end_date          DATE,
    lifted_date       DATE,
    objects           TEXT,
    reason            TEXT,
    legal_basis       TEXT,
    status            VARCHAR(12) NOT NULL,          -- VALID | REVOKED
    created_at        TIMESTAMP   NOT NULL,
    updated_at        TIMESTAMP   NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_coercive_decision_date ON coercive_measure (decision_date);
CREATE INDEX IF NOT EXISTS ix_coercive_updated_at ON coercive_measure (updated_at);

CREATE TABLE IF NOT EXISTS accident (
    accident_id       VARCHAR(20) PRIMARY KEY,
    ent_id            VARCHAR(20) NOT NULL REFERENCES enterprise (ent_id),
    occurred_on       DATE        NOT NULL,
    accident_level    VARCHAR(8)  NOT NULL,          -- 一般 | 较大 | 重大 | 特别重大
    deaths            INTEGER     NOT NULL DEFAULT 0,
    injuries          INTEGER     NOT NULL DEFAULT 0,
    concealed         SMALLINT    NOT NULL DEFAULT 0, -- 瞒报/谎报
    description       TEXT
);

CREATE TABLE IF NOT EXISTS inspection (
    inspection_id     VARCHAR(20) PRIMARY KEY,
    ent_id            VARCHAR(20) NOT NULL REFERENCES enterprise (ent_id),
    inspected_on      DATE        NOT NULL,
    inspector_ids     VARCHAR(100) NOT NULL,         -- comma separated, ≥ 2 per inspection
    problems_found    INTEGER     NOT NULL DEFAULT 0,
    major_hazards     INTEGER     NOT NULL DEFAULT 0, -- 重大事故隐患
    rectified         SMALLINT    NOT NULL DEFAULT 0
);
