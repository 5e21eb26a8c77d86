"""The auditor's checks (#19 §3): ``creditflow audit pii-scan`` looks for personal data left in clear."""
