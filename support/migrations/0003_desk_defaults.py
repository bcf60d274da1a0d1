"""The support desk's defaults on a new installation: a team open Monday to Friday
08:00-18:00 with its SLA policies, troubleshooting steps for every category and a
few macros. Operators change them in the admin; nothing here overwrites theirs."""

from django.db import migrations


def seed(apps, schema_editor):
    from support.services.sla import DEFAULT_POLICIES, DEFAULT_TEAM, DEFAULT_WORKING_HOURS
    from support.services.troubleshooting import DEFAULT_MACROS, DEFAULT_STEPS

    team_model = apps.get_model("support", "SupportTeam")
    policy_model = apps.get_model("support", "SlaPolicy")
    step_model = apps.get_model("support", "TroubleshootingStep")
    macro_model = apps.get_model("support", "Macro")
    team = team_model.objects.filter(is_default=True).first()
    if team is None:
        team, _ = team_model.objects.get_or_create(
            name=DEFAULT_TEAM, defaults={"working_hours": DEFAULT_WORKING_HOURS, "is_default": True}
        )
    for priority, (first, resolution) in DEFAULT_POLICIES.items():
        policy_model.objects.get_or_create(
            team=team, priority=priority, defaults={"first_response_minutes": first, "resolution_minutes": resolution}
        )
    if not step_model.objects.exists():
        step_model.objects.bulk_create(
            step_model(category=str(category), order=order, when_status=when, action=str(action), text=text)
            for order, (category, when, action, text) in enumerate(DEFAULT_STEPS)
        )
    for name, category, body in DEFAULT_MACROS:
        macro_model.objects.get_or_create(name=name, defaults={"category": str(category), "body": body})


class Migration(migrations.Migration):
    dependencies = [("support", "0002_availability_watch")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
