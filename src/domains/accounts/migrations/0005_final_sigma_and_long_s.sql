-- Emails are stored folded (email.ts): lower case was not enough for two letters. Final sigma ς is
-- how σ is written at a word's end, so ΑΛΕΞΙΣ@… lowered to αλεξις@… while αλεξισ@… stayed apart (two
-- accounts for one address, and the owner who typed it in capitals was refused); long s ſ is an s.
-- Stored addresses are folded the same way now. One whose folded form is already another account's
-- keeps its email (the two stay apart, as before) and is named in a notice.
DO $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT id, email::text AS email FROM users WHERE email::text ~ '[ςſ]' ORDER BY created_at, id LOOP
    BEGIN
      UPDATE users SET email = replace(replace(r.email, 'ς', 'σ'), 'ſ', 's') WHERE id = r.id;
    EXCEPTION WHEN unique_violation THEN
      RAISE NOTICE 'account % keeps its email: folded, it is another account''s', r.id;
    END;
  END LOOP;
END $$;
