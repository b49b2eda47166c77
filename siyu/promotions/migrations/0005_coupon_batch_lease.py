from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('promotions', '0004_coupon_batches'),
    ]

    operations = [
        migrations.AddField(
            model_name='couponbatch',
            name='worker',
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddField(
            model_name='couponbatch',
            name='heartbeat_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='couponbatch',
            name='attempts',
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddIndex(
            model_name='couponbatch',
            index=models.Index(fields=['status', 'heartbeat_at'], name='coupon_batch_lease'),
        ),
    ]
