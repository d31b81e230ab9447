"""The list's search over everything a partner quotes, and its Due sort (SPEC §4, §11).

1. **Search text** (``claims_claim.search_text``): the claim number ("ca-000123", as ``Claim.number``), name, domain,
   Directory ID, the revenue association's customer name, the tenant's display name, the MPN ID and the product
   names, lowercased, in one column with one GIN trigram index (``claim_search_trgm``): a substring search
   (``LIKE``) and a one-letter typo (``<%``, pg_trgm's word similarity) both read that index, however many claims
   and whatever field matched. PostgreSQL keeps it whatever writes the rows:
   - a claim row: its own columns (``claims_claim_search``, BEFORE INSERT or UPDATE OF those columns);
   - its items, inserted or deleted (statement triggers on ``claims_claimitem``: one UPDATE per statement);
   - a tenant renamed, an MPN ID or a product name changed (row triggers on those tables, only on a real change).
   An item's product never changes (items are added and removed, never repointed): no trigger for it.
2. **Due** (``claims_claim.due_at``): what the claim waits for, by when (``claims.due``), stored by the application
   (``claims.services.due``: the review's five business days are the tenant's calendar, a Python package's
   holidays), so that the list's Due sort is one (partner, due_at, id) index range. Existing claims get theirs here.

Migration 0005's trigram indexes on the name and the domain stay: the reviewers' admin search reads them.
"""

import datetime

from django.db import migrations, models
from django.db.models import Q

SEARCH_FUNCTION = """
CREATE OR REPLACE FUNCTION claims_claim_search_text(
    p_id bigint, p_name text, p_domain text, p_directory_id uuid, p_customer_name text, p_tenant_id bigint,
    p_location_id bigint
) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT lower(concat_ws(' ',
        'ca-' || lpad(p_id::text, greatest(6, length(p_id::text)), '0'),
        p_name, p_domain, p_directory_id::text, nullif(p_customer_name, ''),
        (SELECT t.name FROM associations_tenant t WHERE t.id = p_tenant_id),
        (SELECT l.mpn_id FROM associations_partnerlocation l WHERE l.id = p_location_id),
        (SELECT string_agg(DISTINCT p.name, ' ') FROM claims_claimitem i
           JOIN associations_product p ON p.id = i.product_id WHERE i.claim_id = p_id)))
$$;

CREATE OR REPLACE FUNCTION claims_claim_search_set() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_text := claims_claim_search_text(
        NEW.id, NEW.name, NEW.domain, NEW.directory_id, NEW.customer_name, NEW.tenant_id, NEW.location_id);
    RETURN NEW;
END;
$$;

-- The claims whose search text depends on changed rows, recomputed in one UPDATE.
CREATE OR REPLACE FUNCTION claims_claim_search_refresh(p_claims bigint[]) RETURNS void LANGUAGE sql AS $$
    UPDATE claims_claim c SET search_text = claims_claim_search_text(
        c.id, c.name, c.domain, c.directory_id, c.customer_name, c.tenant_id, c.location_id)
    WHERE c.id = ANY(p_claims)
$$;

CREATE OR REPLACE FUNCTION claims_claimitem_search_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM claims_claim_search_refresh(ARRAY(SELECT DISTINCT claim_id FROM new_items));
    ELSE
        PERFORM claims_claim_search_refresh(ARRAY(SELECT DISTINCT claim_id FROM old_items));
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION claims_search_source_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'associations_tenant' THEN
        PERFORM claims_claim_search_refresh(ARRAY(SELECT id FROM claims_claim WHERE tenant_id = NEW.id));
    ELSIF TG_TABLE_NAME = 'associations_partnerlocation' THEN
        PERFORM claims_claim_search_refresh(ARRAY(SELECT id FROM claims_claim WHERE location_id = NEW.id));
    ELSE
        PERFORM claims_claim_search_refresh(
            ARRAY(SELECT DISTINCT claim_id FROM claims_claimitem WHERE product_id = NEW.id));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER claims_claim_search
    BEFORE INSERT OR UPDATE OF name, domain, directory_id, customer_name, tenant_id, location_id ON claims_claim
    FOR EACH ROW EXECUTE FUNCTION claims_claim_search_set();
CREATE TRIGGER claims_claimitem_search_insert AFTER INSERT ON claims_claimitem
    REFERENCING NEW TABLE AS new_items FOR EACH STATEMENT EXECUTE FUNCTION claims_claimitem_search_changed();
CREATE TRIGGER claims_claimitem_search_delete AFTER DELETE ON claims_claimitem
    REFERENCING OLD TABLE AS old_items FOR EACH STATEMENT EXECUTE FUNCTION claims_claimitem_search_changed();
CREATE TRIGGER claims_tenant_search AFTER UPDATE OF name ON associations_tenant
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION claims_search_source_changed();
CREATE TRIGGER claims_location_search AFTER UPDATE OF mpn_id ON associations_partnerlocation
    FOR EACH ROW WHEN (OLD.mpn_id IS DISTINCT FROM NEW.mpn_id) EXECUTE FUNCTION claims_search_source_changed();
CREATE TRIGGER claims_product_search AFTER UPDATE OF name ON associations_product
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION claims_search_source_changed();

UPDATE claims_claim SET search_text = claims_claim_search_text(
    id, name, domain, directory_id, customer_name, tenant_id, location_id);
CREATE INDEX claim_search_trgm ON claims_claim USING gin (search_text gin_trgm_ops);
"""

SEARCH_UNINSTALL = """
DROP INDEX IF EXISTS claim_search_trgm;
DROP TRIGGER IF EXISTS claims_claim_search ON claims_claim;
DROP TRIGGER IF EXISTS claims_claimitem_search_insert ON claims_claimitem;
DROP TRIGGER IF EXISTS claims_claimitem_search_delete ON claims_claimitem;
DROP TRIGGER IF EXISTS claims_tenant_search ON associations_tenant;
DROP TRIGGER IF EXISTS claims_location_search ON associations_partnerlocation;
DROP TRIGGER IF EXISTS claims_product_search ON associations_product;
DROP FUNCTION IF EXISTS claims_search_source_changed();
DROP FUNCTION IF EXISTS claims_claimitem_search_changed();
DROP FUNCTION IF EXISTS claims_claim_search_refresh(bigint[]);
DROP FUNCTION IF EXISTS claims_claim_search_set();
DROP FUNCTION IF EXISTS claims_claim_search_text(bigint, text, text, uuid, text, bigint, bigint);
"""


def due_fill(apps, schema_editor):
    """Every claim's due_at, computed as claims.services.due computes it (pure functions), 2,000 claims a batch."""
    from associations.zones import country_time_zone
    from claims.due import due_at_stored

    connection = schema_editor.connection
    last = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT c.id, c.status, c.status_changed_at, c.disputed_at, c.response_deadline, c.opt_out_deadline,
                       c.draft_saved_at, t.country
                FROM claims_claim c LEFT JOIN associations_tenant t ON t.id = c.tenant_id
                WHERE c.id > %s ORDER BY c.id LIMIT 2000
                """,
                [last],
            )
            rows = cursor.fetchall()
            if not rows:
                return
            ids, dues = [], []
            for pk, status, changed, disputed, response, opt_out, saved, country in rows:
                due = due_at_stored(
                    status=status,
                    status_changed_at=changed,
                    disputed_at=disputed,
                    response_deadline=response,
                    opt_out_deadline=opt_out,
                    draft_saved_at=saved,
                    country=country,
                    time_zone=country_time_zone(country) if country else datetime.UTC,
                )
                if due is not None:
                    ids.append(pk)
                    dues.append(due)
            cursor.execute(
                "UPDATE claims_claim c SET due_at = v.due FROM unnest(%s::bigint[], %s::timestamptz[]) AS v(id, due) "
                "WHERE c.id = v.id",
                [ids, dues],
            )
            last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [
        ("associations", "0002_userpreference"),
        ("claims", "0014_item_outcome"),
    ]

    operations = [
        migrations.AddField(
            model_name="claim",
            name="search_text",
            field=models.TextField(default="", editable=False),
        ),
        migrations.AddField(
            model_name="claim",
            name="due_at",
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddIndex(
            model_name="claim",
            index=models.Index(fields=["partner", "due_at", "id"], name="claim_partner_due"),
        ),
        migrations.AddIndex(
            model_name="claim",
            index=models.Index(condition=Q(status="rejected"), fields=["due_at"], name="claim_dispute_due"),
        ),
        migrations.RunSQL(SEARCH_FUNCTION, SEARCH_UNINSTALL),
        migrations.RunPython(due_fill, migrations.RunPython.noop),
    ]
