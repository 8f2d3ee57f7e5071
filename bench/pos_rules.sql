-- The POS benchmark's ten active rules, one of each shape the engine has,
-- for program :program (bench/pos_setup.sql, pos_tier_setup.sql).
INSERT INTO loyalty.rule (program_id, code, kind, categories, skus, multiplier, points,
						  min_basket, days_of_week, every_nth, visit_period, budget_points)
SELECT p.program_id, r.*
  FROM loyalty.program p, (VALUES
	('no-tobacco',   'exclude',        ARRAY['tobacco'], NULL::text[], NULL::numeric, NULL::bigint, NULL::numeric, NULL::integer[], NULL::integer, NULL, NULL::bigint),
	('baby-x2',      'multiplier',     ARRAY['baby'],    NULL,  2,    NULL, NULL, NULL,      NULL, NULL,    NULL),
	('organic-x1.5', 'multiplier',     ARRAY['organic'], NULL,  1.5,  NULL, NULL, NULL,      NULL, NULL,    NULL),
	('basket-50',    'bonus',          NULL,             NULL,  NULL, 10,   50,   NULL,      NULL, NULL,    NULL),
	('food-100',     'bonus',          ARRAY['food'],    NULL,  NULL, 25,   100,  NULL,      NULL, NULL,    NULL),
	('big-basket',   'bonus',          NULL,             NULL,  NULL, 40,   200,  NULL,      NULL, NULL,    NULL),
	('welcome',      'first_purchase', NULL,             NULL,  NULL, 100,  NULL, NULL,      NULL, NULL,    NULL),
	('fifth-visit',  'nth_visit',      NULL,             NULL,  NULL, 50,   NULL, NULL,      5,    'month', NULL),
	('weekend',      'bonus',          NULL,             NULL,  NULL, 15,   30,   '{6,7}',   NULL, NULL,    NULL),
	('launch',       'bonus',          NULL,             NULL,  NULL, 5,    20,   NULL,      NULL, NULL,    1000000000000)
  ) AS r(code, kind, categories, skus, multiplier, points, min_basket, days_of_week, every_nth, visit_period, budget_points)
 WHERE p.code = :'program';
